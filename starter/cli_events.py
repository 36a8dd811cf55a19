"""`python -m starter events status|list|redeliver`: the webhook deliveries for ops (issue 14).

`status` shows per subscription the delivered/pending/failed counts and the oldest pending
age (exit 1 when a subscription is gone or has failed events). `list` shows the events not
yet accepted (pending, with tries and last error; failed). `redeliver --since` puts every
event recorded since then back in a subscription's queue: they go out again, in order per
dossier, with their original `webhook-id` (the receiver dedupes).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from registry import events
from starter.cli import dump, out
from starter.cli_cases import service


def register(sub: Any) -> None:
    parser = sub.add_parser("events", help="webhook deliveries of the events: status, redeliver")
    actions = parser.add_subparsers(dest="events_command", required=True)
    status = actions.add_parser("status", help="per subscription: counts, oldest pending")
    status.set_defaults(run=_status)
    listing = actions.add_parser("list", help="events not yet accepted, oldest first")
    listing.add_argument("--subscription")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true", help="print JSON instead of lines")
    listing.set_defaults(run=_list)
    again = actions.add_parser("redeliver", help="send every event since a moment again")
    again.add_argument(
        "--since", required=True, type=_moment, help="ISO date or time, e.g. 2027-03-01T08:00Z"
    )
    again.add_argument("--subscription", help="one subscription (default: every active one)")
    again.set_defaults(run=_redeliver)


def _moment(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _status(args: argparse.Namespace) -> int:
    async with service() as svc:
        states = await events.state(await svc.pool())
    if not states:
        out("no webhook subscription configured (events.subscriptions)")
    bad = False
    for st in states:
        flag = " GONE (410): delivery stopped" if st.gone else ""
        flag += "" if st.active else " (inactive: not in the settings)"
        out(
            f"{st.subscription}: delivered {st.counts['delivered']}, pending "
            f"{st.counts['pending']}, failed {st.counts['failed']}, oldest pending "
            f"{st.oldest_pending_seconds:.0f} s{flag}"
        )
        bad = bad or st.gone or st.counts["failed"] > 0
    return 1 if bad else 0


async def _list(args: argparse.Namespace) -> int:
    async with service() as svc:
        rows = await events.undelivered(await svc.pool(), args.limit, args.subscription)
    if args.json:
        dump([{**r.__dict__, "recorded_at": r.recorded_at.isoformat()} for r in rows])
        return 0
    if not rows:
        out("every event was accepted by every subscription")
    for r in rows:
        error = f" — {r.last_error}" if r.last_error else ""
        out(
            f"{r.subscription:12} #{r.seq:<8} {r.status:8} {r.attempts:3} tries  {r.dossier}  "
            f"{r.type}{error}"
        )
    return 0


async def _redeliver(args: argparse.Namespace) -> int:
    async with service() as svc:
        pool = await svc.pool()
        names = (
            [args.subscription]
            if args.subscription
            else [st.subscription for st in await events.state(pool) if st.active]
        )
        if not names:
            out("no subscription to redeliver to")
            return 2
        for name in names:
            n = await events.redeliver(pool, name, args.since)
            out(f"{name}: {n} events since {args.since.isoformat()} queued again")
    return 0
