"""Page cursors: what a page's next page starts after, signed so that an edited or foreign
cursor is an error (422 naming `cursor`), never a page. Each kind of list signs with a key
of its own (`starter.auth.cursor_key`: api.cursor_secret, or the dev secret in dev mode).
A cursor is no security boundary: what a caller sees is decided by its token on every
request; the signature only keeps a broken cursor from reading as another position.

A cursor is `base64url(json).base64url(hmac)`: the json holds the list, its parameter
(a body, an organisation, a state) and the sort key of the last item shown, as text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from runtime.settings import Settings
from starter.auth import cursor_key

# The shape the OpenAPI document declares (a cursor of this API always has it).
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
CURSOR_MAX = 1000
_SIG_BYTES = 16


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class BadCursor(ValueError):
    """A cursor this API did not give out, or for another list: 422 naming `cursor`."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"cursor: {detail}")
        self.detail = f"cursor: {detail}"


def bad_cursor(detail: str) -> BadCursor:
    return BadCursor(detail)


def encode(
    settings: Settings, purpose: str, name: str, parameter: str | None, key: Sequence[str]
) -> str:
    payload = json.dumps(
        {"l": name, "p": parameter, "k": list(key)}, separators=(",", ":"), ensure_ascii=True
    ).encode()
    sig = hmac.new(cursor_key(settings, purpose), payload, hashlib.sha256).digest()[:_SIG_BYTES]
    return f"{_b64(payload)}.{_b64(sig)}"


def decode(
    settings: Settings, purpose: str, cursor: str
) -> tuple[str, str | None, tuple[str, ...]]:
    """(list, parameter, sort key of the last item shown); 422 naming `cursor` otherwise."""
    try:
        body, sig = cursor.split(".")
        payload, given = _unb64(body), _unb64(sig)
    except (ValueError, binascii.Error) as exc:
        raise bad_cursor("not a cursor this API gave out (malformed)") from exc
    expected = hmac.new(cursor_key(settings, purpose), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(given, expected[:_SIG_BYTES]):
        raise bad_cursor("not a cursor this API gave out (altered or from elsewhere)")
    try:
        data: Any = json.loads(payload)
        found = data["l"], data["p"], tuple(data["k"])
    except (ValueError, TypeError, KeyError) as exc:
        raise bad_cursor("not a cursor this API gave out (unreadable)") from exc
    if not (
        isinstance(found[0], str)
        and (found[1] is None or isinstance(found[1], str))
        and all(isinstance(part, str) and "\x00" not in part for part in found[2])
    ):
        raise bad_cursor("not a cursor this API gave out (unreadable)")
    return found


def _timestamptz(text: str) -> str:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError("no time zone")
    return value.isoformat()


# How each kind of sort key is read back, written again in the one form PostgreSQL takes.
_READERS: dict[str, Callable[[str], str]] = {
    "timestamptz": _timestamptz,
    "date": lambda text: date.fromisoformat(text).isoformat(),
    "boolean": lambda text: {"true": "true", "false": "false"}[text],
    "text": lambda text: text,
}


def sort_key(key: Sequence[str], kinds: Sequence[str]) -> tuple[str, ...]:
    """The sort key a cursor carries, checked part by part against its list's order (the
    PostgreSQL type of each part): one of another shape is a 422 naming `cursor` (even one
    signed with our key, as after a change of a list's order), never a query that fails."""
    if len(key) != len(kinds):
        raise bad_cursor("not a cursor of this list (its position has another shape)")
    try:
        return tuple(_READERS[kind](part) for part, kind in zip(key, kinds, strict=True))
    except (ValueError, KeyError) as exc:
        raise bad_cursor("not a cursor of this list (its position cannot be read)") from exc
