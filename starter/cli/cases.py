"""Case commands: submit, decide, appeal, hearing, bec-decide, stop, withdraw, revoke, show,
list, registered, export. They talk to Temporal and the registry through `CaseService`,
acting as the user given by --subject/--org/--role, or as the command's natural role."""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel

from models.application import TrainingApplication
from models.enterprise import normalise_enterprise_number
from models.identity import Actor
from runtime.settings import load_settings
from starter.auth import parse_role
from starter.cli.main import dump, out
from starter.client import CaseService
from starter.decisions import DECISIONS, Decision


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


def _organisation(text: str) -> str:
    # As a token's claim is read: 0123.456.749 and BE0123456749 are the provider 0123456749,
    # so the conflict-of-interest rule sees the same organisation however it is typed.
    try:
        return normalise_enterprise_number(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _acting(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subject", default="ops-cli", help="who acts (audit trail)")
    parser.add_argument("--org", type=_organisation, help="enterprise number the actor acts for")
    parser.add_argument(
        "--role", action="append", default=[], help="act with this role (repeatable)"
    )
    parser.add_argument("--key", help="idempotency key (default: a new one)")


def _decision(sub: Any, decision: Decision) -> None:
    """The decision's sub-command, its options derived from the input model's fields."""
    parser: argparse.ArgumentParser = sub.add_parser(decision.verb, help=decision.summary)
    parser.add_argument("dossier")
    _acting(parser)
    for name, info in decision.model.model_fields.items():
        if name == "actor":
            continue
        option = "--" + name.replace("_", "-")
        required = info.is_required()
        if name in decision.switches:
            yes, no = decision.switches[name]
            group = parser.add_mutually_exclusive_group(required=True)
            group.add_argument(yes, dest=name, action="store_true", default=None)
            group.add_argument(no, dest=name, action="store_false")
        elif info.annotation is bool:
            parser.add_argument(option, dest=name, action="store_true")
        elif isinstance(info.annotation, type) and issubclass(info.annotation, Enum):
            choices = [m.value for m in info.annotation]
            parser.add_argument(option, dest=name, required=required, choices=choices)
        elif info.annotation in (date, date | None):
            parser.add_argument(option, dest=name, required=required, type=date.fromisoformat)
        elif info.annotation in (datetime, AwareDatetime):
            parser.add_argument(
                option,
                dest=name,
                required=required,
                type=datetime.fromisoformat,
                help="ISO 8601 with a time zone, e.g. 2027-03-31T23:40+02:00",
            )
        else:
            parser.add_argument(option, dest=name, required=required)

    async def run(args: argparse.Namespace) -> int:
        async with service() as svc:
            owner = await svc.owner(args.dossier)
            org, roles = decision.acting_as(owner)
            actor = _actor(args, org, roles)
            decision.may(actor, owner)  # the same rule the API and the workflow check
            fields = {
                n: getattr(args, n)
                for n in decision.model.model_fields
                if n != "actor" and getattr(args, n, None) is not None
            }
            inp = decision.model(actor=actor, **fields)
            key = f"{decision.route.replace('-', '_')}:{args.key or uuid.uuid4()}"
            dump(await svc.update(args.dossier, inp, key))
        return 0

    parser.set_defaults(run=run)


def register(sub: Any) -> None:
    submit = sub.add_parser("submit", help="submit an application from a JSON file")
    submit.add_argument("file", type=Path, help="JSON with the TrainingApplication fields")
    submit.add_argument("--key", help="idempotency key (default: derived from the file)")
    submit.set_defaults(run=_submit)

    for decision in DECISIONS:
        _decision(sub, decision)

    show = sub.add_parser(
        "show", help="show a dossier as the portal reads it (the registry, as of its last step)"
    )
    show.add_argument("dossier")
    show.add_argument(
        "--live", action="store_true", help="ask its workflow instead (needs Temporal)"
    )
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
    later = "" if result.started else "; Temporal unreachable: its case starts once it is back"
    out(f"{result.dossier} ({'created' if result.created else 'already submitted'}{later})")
    return 0


async def _show(args: argparse.Namespace) -> int:
    return await _out(
        lambda svc: svc.live_status(args.dossier) if args.live else svc.read(args.dossier)
    )


async def _list(args: argparse.Namespace) -> int:
    async with service() as svc:
        page = await svc.list_dossiers(args.provider, limit=200)
        dump([d.model_dump(mode="json") for d in page.items])
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
