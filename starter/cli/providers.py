"""`python -m starter providers register|deactivate|reactivate|show|list`: the department's
register of training provider organisations, over the same registry code as the API
(`/providers`); every change is audited with the acting --subject."""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import ValidationError

from models.enterprise import normalise_enterprise_number
from models.identity import Actor, Role, RoleKind
from models.providers import DeactivateInput, ProviderInput
from registry import providers
from registry.errors import InvalidInput
from starter.cli.cases import service
from starter.cli.main import dump, out


def register(sub: Any) -> None:
    parser = sub.add_parser("providers", help="the providers register (department)")
    actions = parser.add_subparsers(dest="providers_command", required=True)
    add = actions.add_parser("register", help="register a provider, or update name and contact")
    add.add_argument("enterprise_number", type=_number)
    add.add_argument("--name", required=True)
    add.add_argument("--contact-email", required=True)
    add.set_defaults(run=_register)
    off = actions.add_parser("deactivate", help="it submits nothing more; running cases go on")
    off.add_argument("enterprise_number", type=_number)
    off.add_argument("--reason", required=True)
    off.set_defaults(run=_deactivate)
    on = actions.add_parser("reactivate", help="it may submit again")
    on.add_argument("enterprise_number", type=_number)
    on.set_defaults(run=_reactivate)
    for action in (add, off, on):
        action.add_argument("--subject", default="ops-cli", help="who acts (audit trail)")
    show = actions.add_parser("show", help="one provider and its changes")
    show.add_argument("enterprise_number", type=_number)
    show.set_defaults(run=_show)
    listing = actions.add_parser("list", help="every registered provider")
    listing.set_defaults(run=_list)
    export = actions.add_parser(
        "export",
        help="everything held about one organisation as one ZIP with a manifest (SHA-256 of "
        "each part): register record and changes, dossiers, steps, e-mails, documents",
    )
    export.add_argument("enterprise_number", type=_number)
    export.add_argument("-o", "--output", help="the file (default: provider-<number>-<time>.zip)")
    export.set_defaults(run=_export)


def _number(text: str) -> str:
    try:
        return normalise_enterprise_number(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _department(args: argparse.Namespace) -> Actor:
    return Actor(subject=args.subject, roles=(Role(kind=RoleKind.DEPARTMENT),))


def _input(args: argparse.Namespace) -> ProviderInput:
    try:
        return ProviderInput(name=args.name, contact_email=args.contact_email)
    except ValidationError as exc:
        raise InvalidInput(
            [(str(e["loc"][0]), str(e["msg"]).removeprefix("Value error, ")) for e in exc.errors()]
        ) from exc


async def _register(args: argparse.Namespace) -> int:
    facts = _input(args)
    async with service() as svc:
        pool = await svc.pool()
        async with pool.acquire() as conn:
            record, created = await providers.register(
                conn, args.enterprise_number, facts, _department(args)
            )
    out(f"{'registered' if created else 'up to date'}: {record.enterprise_number} {record.name}")
    return 0


async def _deactivate(args: argparse.Namespace) -> int:
    reason = DeactivateInput(reason=args.reason).reason
    async with service() as svc:
        pool = await svc.pool()
        async with pool.acquire() as conn:
            record = await providers.set_active(
                conn, args.enterprise_number, False, _department(args), reason
            )
    out(f"deactivated: {record.enterprise_number} {record.name} (running cases go on)")
    return 0


async def _reactivate(args: argparse.Namespace) -> int:
    async with service() as svc:
        pool = await svc.pool()
        async with pool.acquire() as conn:
            record = await providers.set_active(
                conn, args.enterprise_number, True, _department(args)
            )
    out(f"active: {record.enterprise_number} {record.name}")
    return 0


async def _show(args: argparse.Namespace) -> int:
    async with service() as svc:
        pool = await svc.pool()
        record = await providers.get(pool, args.enterprise_number)
        if record is None:
            out(f"no provider {args.enterprise_number} is registered")
            return 1
        dump(
            {
                **record.model_dump(mode="json"),
                "changes": [
                    c.model_dump(mode="json")
                    for c in await providers.changes(pool, args.enterprise_number)
                ],
            }
        )
    return 0


async def _list(args: argparse.Namespace) -> int:
    async with service() as svc:
        for record in await providers.list_all(await svc.pool()):
            state = "active" if record.active else "DEACTIVATED"
            out(f"{record.enterprise_number}  {state:<11}  {record.name}  <{record.contact_email}>")
    return 0


async def _export(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime
    from pathlib import Path

    from activities.archives import export_provider

    at = datetime.now(UTC)
    target = Path(
        args.output or f"provider-{args.enterprise_number}-{at.strftime('%Y%m%dT%H%M%SZ')}.zip"
    )
    async with service() as svc:
        pool = await svc.pool()
        async with pool.acquire() as conn:
            done = await export_provider(
                conn, args.enterprise_number, svc.settings.smtp.sender, at, target
            )
    if done is None:
        out(f"no provider {args.enterprise_number} is registered")
        return 1
    out(
        f"{target}: {done.dossiers} dossiers, {done.parts} parts, SHA-256 {done.sha256} "
        f"(check: python -m ops retention --verify {target})"
    )
    return 0
