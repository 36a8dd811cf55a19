"""How text and days arrive over the wire: the one home of the rules every request field
follows, each written once as a check (with a message that says what to do) and as the
JSON-schema the OpenAPI document publishes, so the schema accepts exactly what the server does.

- Text never holds the NUL character (PostgreSQL cannot store it in a text column).
- Whitespace at either end is dropped (Python's `str.strip`); a minimum length counts what is
  left, a maximum length counts what was sent.
- A day is `YYYY-MM-DD` and nothing else (no timestamps, no numbers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

# Exactly the characters `str.strip()` removes (every `str.isspace()` character; a test checks
# the list), spelled so that Python's `re` and ECMA-262 (JSON schema) read the class alike.
WHITESPACE_CLASS = (
    r"\x09-\x0d\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
_ANY = r"[^\x00]"  # any character PostgreSQL can store
_SOLID = rf"[^\x00{WHITESPACE_CLASS}]"  # a character that is neither NUL nor whitespace


def text_pattern(min_length: int) -> str:
    """The JSON-schema pattern of NUL-free text with at least `min_length` characters left
    once the whitespace at both ends is dropped."""
    if min_length <= 0:
        return rf"^{_ANY}*$"
    if min_length == 1:
        return rf"^{_ANY}*{_SOLID}{_ANY}*$"
    return rf"^{_ANY}*{_SOLID}{_ANY}{{{min_length - 2},}}{_SOLID}{_ANY}*$"


def check_storable(value: str) -> str:
    """Refuses what PostgreSQL cannot store: NUL, and lone surrogates (not UTF-8)."""
    if "\x00" in value:
        raise PydanticCustomError(
            "text_nul",
            "contains the NUL character (\\u0000), which cannot be stored; remove it",
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PydanticCustomError(
            "text_surrogate",
            "contains an unpaired UTF-16 surrogate, which is not text; send valid Unicode",
        ) from exc
    return value


@dataclass(frozen=True)
class Text:
    """A text field: `Annotated[str, Text(200, min_length=3)]`. NUL-free, trimmed,
    `min_length`..`max_length` characters.

    The maximum counts the characters sent (so the schema's `maxLength` is exact); the
    minimum counts what is left after trimming (so the schema says it with a pattern)."""

    max_length: int
    min_length: int = 0

    def check(self, value: str) -> str:
        value = check_storable(value).strip()
        if len(value) < self.min_length:
            if self.min_length == 1:
                raise PydanticCustomError("text_blank", "must not be empty or only spaces")
            raise PydanticCustomError(
                "text_too_short",
                "needs at least {min_length} characters besides spaces at the start and end",
                {"min_length": self.min_length},
            )
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        # strip_whitespace=False: the length is checked as sent, whatever the model's config.
        raw = core_schema.str_schema(max_length=self.max_length, strip_whitespace=False)
        return core_schema.no_info_after_validator_function(self.check, raw)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out: JsonSchemaValue = {
            "type": "string",
            "maxLength": self.max_length,
            "pattern": text_pattern(self.min_length),
        }
        if self.min_length:
            out["minLength"] = self.min_length
        return out


@dataclass(frozen=True)
class Matching:
    """Text that must match `pattern` as sent (the same regex is the schema's `pattern`):
    `Annotated[str, Matching(...)]`. Whitespace at the ends, if the pattern allows it, is
    then dropped. `what` is the message when it does not match."""

    pattern: str
    what: str
    max_length: int
    format: str | None = None

    def check(self, value: str) -> str:
        if "\x00" in value or not re.fullmatch(self.pattern, value):
            raise PydanticCustomError("text_format", "{what}", {"what": self.what})
        return value.strip()

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        raw = core_schema.str_schema(max_length=self.max_length, strip_whitespace=False)
        return core_schema.no_info_after_validator_function(self.check, raw)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out: JsonSchemaValue = {
            "type": "string",
            "maxLength": self.max_length,
            "pattern": self.pattern,
        }
        if self.format:
            out["format"] = self.format
        return out


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _day_text(value: Any) -> Any:
    # JSON has no date type: a day comes as text. pydantic's lax mode would also take a unix
    # timestamp or a datetime at midnight, which the schema (`format: date`) does not allow.
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise PydanticCustomError(
            "date_format", "not a valid date: write the day as YYYY-MM-DD, e.g. 2027-03-14"
        )
    return value


# A calendar day as the portal sends it.
Day = Annotated[date, BeforeValidator(_day_text)]
