"""Request and response bodies of the HTTP API.

A decision's request body is its workflow input model (models/case.py) without `actor`: the
actor comes from the verified token, never from the body. Deriving the bodies keeps one
source of truth for fields, limits and the OpenAPI document.

On top of the input model, a request body states what the case workflow refuses in every
state (a reason too short to be one, a deadline that cannot be corrected): said here, the
OpenAPI document carries it, so a request valid by the document is never refused with 422.
The workflow's validators check the same again for callers that are not the API.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, create_model, model_validator
from pydantic.config import JsonDict
from pydantic.fields import FieldInfo

from models.case import (
    AppealInput,
    BecDecisionInput,
    CorrectReceiptInput,
    DeadlineKind,
    RegisterAppealInput,
    ReviewDecisionInput,
    RevokeInput,
    _ActorInput,
)
from models.text import Text, text_pattern
from rules.guards import MIN_REASON

# Fields the workflow always wants as a written reason of at least MIN_REASON characters.
_WRITTEN_REASON: dict[type[_ActorInput], str] = {
    AppealInput: "motivation",
    RegisterAppealInput: "motivation",
    BecDecisionInput: "reason",
    RevokeInput: "reason",
    CorrectReceiptInput: "reason",
}
# The removal date follows from the screening notice; only these two can be corrected.
_CORRECTABLE = Literal[DeadlineKind.APPEAL_WINDOW, DeadlineKind.BEC_DECISION]


def _at_least(info: FieldInfo, min_length: int) -> tuple[Any, FieldInfo]:
    """The field as declared, its text needing `min_length` characters."""
    found = next(m for m in info.metadata if isinstance(m, Text))
    stricter = dataclasses.replace(found, min_length=min_length)
    field = copy.deepcopy(info)
    field.metadata = [m for m in field.metadata if not isinstance(m, Text)]
    return Annotated[str, stricter], field


def _refusal_needs_reason(body: Any) -> Any:
    if body.approve is False and len(body.reason) < MIN_REASON:
        raise ValueError(
            f"reason: a refusal needs a written reason of at least {MIN_REASON} characters"
        )
    return body


_REFUSAL_SCHEMA: JsonDict = {
    "anyOf": [
        {"properties": {"approve": {"const": True}}},
        {
            "properties": {
                "approve": {"const": False},
                "reason": {"type": "string", "pattern": text_pattern(MIN_REASON)},
            },
            "required": ["reason"],
        },
    ]
}


def body_model(model: type[_ActorInput]) -> type[BaseModel]:
    fields: dict[str, Any] = {
        name: (info.annotation, copy.deepcopy(info))
        for name, info in model.model_fields.items()
        if name != "actor"
    }
    if model in _WRITTEN_REASON:
        name = _WRITTEN_REASON[model]
        fields[name] = _at_least(model.model_fields[name], MIN_REASON)
    if model is CorrectReceiptInput:
        fields["deadline"] = (
            _CORRECTABLE,
            FieldInfo(
                description="appeal_window or bec_decision; a removal date follows from the "
                "screening notice: correct the appeal_window of that notice instead"
            ),
        )
    config = ConfigDict(extra="forbid")
    validators: dict[str, Any] = {}
    if model is ReviewDecisionInput:
        config["json_schema_extra"] = _REFUSAL_SCHEMA
        validators["refusal_needs_reason"] = model_validator(mode="after")(_refusal_needs_reason)
    return create_model(
        model.__name__.removesuffix("Input") + "Request",
        __config__=config,
        __doc__=(model.__doc__ or "").strip() or None,
        __module__=__name__,
        __validators__=validators,
        **fields,
    )


class SubmitResponse(BaseModel):
    model_config = ConfigDict(frozen=True)

    dossier: str
    # False: this Idempotency-Key was seen before; the same dossier is returned.
    created: bool
    status_url: str
    # False (202): received and numbered while Temporal could not be reached; its case is
    # started as soon as Temporal is back, without a retry.
    case_started: bool = True


class RegisteredAnswer(BaseModel):
    model_config = ConfigDict(frozen=True)

    dossier: str
    on: date
    registered: bool
