"""`python -m starter worklist`: what waits for a role, the same lists as GET /worklist.

python -m starter worklist --role "reviewer:VOC"
python -m starter worklist --role bec --list waiting-for-bec --limit 50
python -m starter worklist --role provider --org 0123.456.749 --cursor <next_cursor>
"""

from __future__ import annotations

import argparse
import typing
from typing import Any

from models.enterprise import normalise_enterprise_number
from models.identity import Actor
from starter.auth import parse_role
from starter.cli.cases import service
from starter.cli.main import dump, out
from starter.worklists import DEFAULT_LIMIT, MAX_LIMIT, ListName, WorklistAnswer, worklist


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "worklist", help="what waits for a role (reviewer, BEC, department, provider)"
    )
    p.add_argument(
        "--role",
        action="append",
        default=[],
        required=True,
        help='repeatable: provider, "reviewer:VOC", "reviewer:PC 200", bec, department',
    )
    p.add_argument("--org", help="enterprise number (with --role provider)")
    p.add_argument("--subject", default="ops-cli")
    p.add_argument("--list", dest="list_name", choices=typing.get_args(ListName))
    p.add_argument("--cursor", help="next_cursor of an earlier page")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"1 to {MAX_LIMIT}")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.set_defaults(run=_run)


def _print(answer: WorklistAnswer) -> None:
    for page in answer.lists:
        param = f" ({page.parameter})" if page.parameter else ""
        out(f"== {page.list}{param}: {page.count} — {page.question}")
        for i in page.items:
            flag = "!" if i.overdue else " "
            since = f"{i.days_waiting} d" if i.days_waiting is not None else "-"
            out(f" {flag} {i.dossier}  {since:>6}  {i.deadline or ''}  {i.title}")
        if page.next_cursor:
            out(f"   more: --list {page.list} --cursor {page.next_cursor}")


async def _run(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= MAX_LIMIT:
        out(f"limit: give 1 to {MAX_LIMIT}")
        return 2
    roles = tuple(r for text in args.role if (r := parse_role(text)) is not None)
    org = normalise_enterprise_number(args.org) if args.org else None
    actor = Actor(subject=args.subject, organisation=org, roles=roles)
    async with service() as svc:
        answer = await worklist(
            svc, actor, list_name=args.list_name, cursor=args.cursor, limit=args.limit
        )
    if args.json:
        dump(answer)
    else:
        _print(answer)
    return 0
