"""Case commands: submit, decide, appeal, hearing, bec-decide, stop, withdraw, revoke, show,
list, registered, export. They talk to Temporal and the registry through `CaseService`,
acting as the user given by --subject/--org/--role, or as the command's natural role."""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from models.application import TrainingApplication
from models.case import (
    AppealInput,
    BecDecisionInput,
    HearingInput,
    ReviewDecisionInput,
    RevokeInput,
    StopInput,
    WithdrawInput,
)
from models.identity import Actor
from models.registry import DossierSummary
from runtime.settings import load_settings
from starter.auth import parse_role
from starter.cli import dump, out
from starter.client import CaseService

Build = Callable[[argparse.Namespace, Actor], BaseModel]
Default = Callable[[DossierSummary], tuple[str | None, tuple[str, ...]]]


@asynccontextmanager
async def service() -> AsyncIterator[CaseService]:
    svc = CaseService(load_settings())
    try:
        yield svc
    finally:
        await svc.close()


def _actor(args: argparse.Namespace, org: str | None, roles: tuple[str, ...]) -> Actor:
    role_texts = tuple(args.role) or roles
    parsed = tuple(r for text in role_texts if (r := parse_role(text)) is not None)
    return Actor(subject=args.subject, organisation=args.org or org, roles=parsed)


def _acting(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subject", default="ops-cli", help="who acts (audit trail)")
    parser.add_argument("--org", help="enterprise number the actor acts for")
    parser.add_argument(
        "--role", action="append", default=[], help="act with this role (repeatable)"
    )
    parser.add_argument("--key", help="idempotency key (default: a new one)")


def _decision(
    sub: Any, name: str, help_text: str, default: Default, build: Build
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    parser.add_argument("dossier")
    _acting(parser)

    async def run(args: argparse.Namespace) -> int:
        async with service() as svc:
            owner = await svc.owner(args.dossier)
            org, roles = default(owner)
            inp = build(args, _actor(args, org, roles))
            dump(await svc.update(args.dossier, inp, f"{name}:{args.key or uuid.uuid4()}"))
        return 0

    parser.set_defaults(run=run)
    return parser


def _as_provider(d: DossierSummary) -> tuple[str | None, tuple[str, ...]]:
    return d.provider, ("provider",)


def _as_reviewer(d: DossierSummary) -> tuple[str | None, tuple[str, ...]]:
    return None, (f"reviewer:{d.competent_body}",)


def _as_bec(_: DossierSummary) -> tuple[str | None, tuple[str, ...]]:
    return None, ("bec",)


def _as_department(_: DossierSummary) -> tuple[str | None, tuple[str, ...]]:
    return None, ("department",)


def register(sub: Any) -> None:
    submit = sub.add_parser("submit", help="submit an application from a JSON file")
    submit.add_argument("file", type=Path, help="JSON with the TrainingApplication fields")
    submit.add_argument("--key", help="idempotency key (default: derived from the file)")
    submit.set_defaults(run=_submit)

    decide = _decision(
        sub,
        "decide",
        "a reviewer approves or refuses",
        _as_reviewer,
        lambda a, actor: ReviewDecisionInput(actor=actor, approve=a.approve, reason=a.reason),
    )
    group = decide.add_mutually_exclusive_group(required=True)
    group.add_argument("--approve", action="store_true", default=False)
    group.add_argument("--refuse", dest="approve", action="store_false")
    decide.add_argument("--reason", default="")

    appeal = _decision(
        sub,
        "appeal",
        "the provider appeals to the BEC",
        _as_provider,
        lambda a, actor: AppealInput(actor=actor, motivation=a.motivation),
    )
    appeal.add_argument("--motivation", required=True)

    hearing = _decision(
        sub,
        "hearing",
        "the BEC records a hearing",
        _as_bec,
        lambda a, actor: HearingInput(actor=actor, side=a.side, waived=a.waived, note=a.note),
    )
    hearing.add_argument("--side", required=True, choices=["provider", "department"])
    hearing.add_argument("--waived", action="store_true")
    hearing.add_argument("--note", default="")

    bec = _decision(
        sub,
        "bec-decide",
        "the BEC grants or rejects an appeal",
        _as_bec,
        lambda a, actor: BecDecisionInput(actor=actor, granted=a.granted, reason=a.reason),
    )
    group = bec.add_mutually_exclusive_group(required=True)
    group.add_argument("--grant", dest="granted", action="store_true", default=False)
    group.add_argument("--reject", dest="granted", action="store_false")
    bec.add_argument("--reason", default="")

    for name, help_text, default, model in (
        ("stop", "the provider stops a registration", _as_provider, StopInput),
        ("withdraw", "the provider withdraws an application", _as_provider, WithdrawInput),
        ("revoke", "the department revokes a registration", _as_department, RevokeInput),
    ):
        parser = _decision(
            sub,
            name,
            help_text,
            default,
            lambda a, actor, m=model: m(actor=actor, reason=a.reason),  # type: ignore[misc]
        )
        parser.add_argument("--reason", default="", required=name == "revoke")

    show = sub.add_parser("show", help="show a dossier as the workflow (or registry) has it")
    show.add_argument("dossier")
    show.set_defaults(run=_show)

    listing = sub.add_parser("list", help="list an organisation's dossiers")
    listing.add_argument("provider", help="enterprise number")
    listing.set_defaults(run=_list)

    registered = sub.add_parser("registered", help="was a dossier registered on a day?")
    registered.add_argument("dossier")
    registered.add_argument("--on", type=date.fromisoformat, default=date.today())
    registered.set_defaults(run=_registered)

    export = sub.add_parser("export", help="open data: trainings registered on a day (CSV)")
    export.add_argument("--on", type=date.fromisoformat, default=date.today())
    export.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    export.set_defaults(run=_export)


async def _submit(args: argparse.Namespace) -> int:
    text = args.file.read_text(encoding="utf-8")
    application = TrainingApplication.model_validate(json.loads(text))
    key = args.key or f"cli:{uuid.uuid5(uuid.NAMESPACE_URL, text)}"
    async with service() as svc:
        result = await svc.submit(application, key)
    out(f"{result.dossier} ({'created' if result.created else 'already submitted'})")
    return 0


async def _show(args: argparse.Namespace) -> int:
    return await _out(lambda svc: svc.status(args.dossier))


async def _list(args: argparse.Namespace) -> int:
    async with service() as svc:
        dump([d.model_dump(mode="json") for d in await svc.list_dossiers(args.provider)])
    return 0


async def _registered(args: argparse.Namespace) -> int:
    async with service() as svc:
        registered = await svc.registered_on(args.dossier, args.on)
    out(f"{args.dossier} {'was' if registered else 'was not'} registered on {args.on}")
    return 0 if registered else 1


async def _export(args: argparse.Namespace) -> int:
    async with service() as svc:
        text = await svc.export_csv(args.on)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        out(text, end="")
    return 0


async def _out(fetch: Callable[[CaseService], Awaitable[BaseModel]]) -> int:
    async with service() as svc:
        dump(await fetch(svc))
    return 0
