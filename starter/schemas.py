"""Request and response bodies of the HTTP API.

A decision's request body is its workflow input model (models/case.py) without `actor`: the
actor comes from the verified token, never from the body. Deriving the bodies keeps one
source of truth for fields, limits and the OpenAPI document.
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from models.case import _ActorInput


def body_model(model: type[_ActorInput]) -> type[BaseModel]:
    fields: dict[str, Any] = {
        name: (info.annotation, copy.deepcopy(info))
        for name, info in model.model_fields.items()
        if name != "actor"
    }
    name = model.__name__.removesuffix("Input") + "Request"
    return create_model(
        name,
        __config__=ConfigDict(extra="forbid", str_strip_whitespace=True),
        __doc__=(model.__doc__ or "").strip() or None,
        __module__=__name__,
        **fields,
    )


class SubmitResponse(BaseModel):
    model_config = ConfigDict(frozen=True)

    dossier: str
    # False: this Idempotency-Key was seen before; the same dossier is returned.
    created: bool
    status_url: str


class RegisteredAnswer(BaseModel):
    model_config = ConfigDict(frozen=True)

    dossier: str
    on: date
    registered: bool
