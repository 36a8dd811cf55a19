"""`python -m starter events status|list|pause|resume|redeliver`: the webhook deliveries for
ops (runbook 3c).

`status` shows per subscription the delivered/pending/failed counts and the oldest pending
age; a paused one (410 Gone, or paused by ops) shows PAUSED, why, and its backlog (exit 1
when a subscription is paused or has failed events). `list` shows the events not yet
accepted (pending, with tries and last error; failed). `pause` stops sending (ops); every
event stays pending, in order. `resume` lifts a pause (ops or 410 Gone): the backlog goes
out in order per dossier with the original `webhook-id`s, its retry horizon counting from
the resume. `redeliver --since` puts every event recorded since then back in a
subscription's queue: they go out again, in order per dossier, with their original
`webhook-id` (the receiver dedupes).

Bad input (an unknown subscription, resuming one that is not paused, one no longer in the
settings) changes nothing and exits 2 with what was wrong and what to do.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from registry import event_subscriptions, events
from registry.db import Db
from registry.event_subscriptions import Subscription
from starter.cli.cases import service
from starter.cli.main import dump, out

BAD_INPUT = 2


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "events", help="webhook deliveries of the events: status, pause, resume, redeliver"
    )
    actions = parser.add_subparsers(dest="events_command", required=True)
    status = actions.add_parser("status", help="per subscription: counts, oldest pending, paused")
    status.add_argument("--subscription", help="only this one (and its exit code)")
    status.set_defaults(run=_status)
    listing = actions.add_parser("list", help="events not yet accepted, oldest first")
    listing.add_argument("--subscription")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true", help="print JSON instead of lines")
    listing.set_defaults(run=_list)
    pause = actions.add_parser("pause", help="stop sending to a subscription; events wait")
    pause.add_argument("subscription", help="its name in events.subscriptions")
    pause.add_argument("--reason", type=_note, help="shown by events status, e.g. a ticket")
    pause.set_defaults(run=_pause)
    resume = actions.add_parser(
        "resume", help="send a paused subscription's backlog (in order, original ids)"
    )
    resume.add_argument("subscription", help="its name in events.subscriptions")
    resume.set_defaults(run=_resume)
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


def _note(text: str) -> str:
    note = text.strip()
    if "\x00" in note or len(note) > 500:
        raise argparse.ArgumentTypeError("at most 500 characters, no NUL character")
    return note


def _refuse(text: str) -> int:
    sys.stderr.write(text + "\n")
    return BAD_INPUT


async def _known(db: Db, command: str, name: str, *, active: bool = True) -> Subscription | int:
    """The subscription, or the exit code after saying what was wrong: unknown, or (`active`)
    no longer in the settings (nothing is delivered to it)."""
    sub = await event_subscriptions.get(db, name)
    if sub is None:
        known = ", ".join(await event_subscriptions.names(db)) or "none"
        return _refuse(
            f"events {command}: no subscription {name!r} (known: {known}). Use a name from "
            "events.subscriptions; a new one is registered when a worker starts with it."
        )
    if active and not sub.active:
        return _refuse(
            f"events {command}: {name!r} is no longer in the settings (events.subscriptions): "
            "nothing is delivered to it. Add it to the settings again and restart the worker; "
            "nothing changed."
        )
    return sub


def _pending(states: list[events.DeliveryState], name: str) -> int:
    return next((st.counts["pending"] for st in states if st.subscription == name), 0)


async def _status(args: argparse.Namespace) -> int:
    async with service() as svc:
        pool = await svc.pool()
        if args.subscription:
            known = await _known(pool, "status", args.subscription, active=False)
            if isinstance(known, int):
                return known
        states = [
            st for st in await events.state(pool) if args.subscription in (None, st.subscription)
        ]
        paused = {
            st.subscription: await event_subscriptions.get(pool, st.subscription)
            for st in states
            if st.paused
        }
    if not states:
        out("no webhook subscription configured (events.subscriptions)")
    bad = False
    for st in states:
        counts = (
            f"delivered {st.counts['delivered']}, pending {st.counts['pending']}, "
            f"failed {st.counts['failed']}, oldest pending {st.oldest_pending_seconds:.0f} s"
        )
        inactive = "" if st.active else " (inactive: not in the settings)"
        sub = paused.get(st.subscription)
        if sub is not None:
            out(
                f"{st.subscription}: PAUSED ({sub.why_paused}): backlog {st.counts['pending']} "
                f"events waiting; {counts}{inactive}\n  send them: python -m starter events "
                f"resume {st.subscription}"
                + (" (or give it a new URL in the settings)" if sub.paused_at is None else "")
            )
        else:
            out(f"{st.subscription}: {counts}{inactive}")
        bad = bad or st.paused or st.counts["failed"] > 0
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


async def _pause(args: argparse.Namespace) -> int:
    async with service() as svc:
        pool = await svc.pool()
        sub = await _known(pool, "pause", args.subscription)
        if isinstance(sub, int):
            return sub
        if not await event_subscriptions.pause(pool, sub.name, args.reason):
            out(f"{sub.name}: already paused ({sub.why_paused}); nothing changed")
            return 0
        backlog = _pending(await events.state(pool), sub.name)
    out(
        f"{sub.name}: paused; nothing more is sent (a send in flight finishes). Every event "
        f"stays pending, in order (now {backlog}); send them: python -m starter events resume "
        f"{sub.name}"
    )
    return 0


async def _resume(args: argparse.Namespace) -> int:
    async with service() as svc:
        pool = await svc.pool()
        sub = await _known(pool, "resume", args.subscription)
        if isinstance(sub, int):
            return sub
        if not sub.paused:
            pending = _pending(await events.state(pool), sub.name)
            return _refuse(
                f"events resume: {sub.name!r} is not paused: it is delivering (pending "
                f"{pending}); nothing changed. To send events again that were delivered or "
                f"failed: python -m starter events redeliver --since <time> --subscription "
                f"{sub.name}"
            )
        async with pool.acquire() as conn:
            backlog = await event_subscriptions.resume(conn, sub.name)
    again = (
        " If the receiver still answers 410 Gone, delivery pauses again at its first event."
        if sub.gone_at is not None
        else ""
    )
    out(
        f"{sub.name}: resumed (was paused: {sub.why_paused}); the backlog of {backlog} events "
        f"goes out now, in order per dossier, with their original ids (their retry horizon "
        f"counts from now).{again}"
    )
    return 0


async def _redeliver(args: argparse.Namespace) -> int:
    async with service() as svc:
        pool = await svc.pool()
        if args.subscription:
            sub = await _known(pool, "redeliver", args.subscription)
            if isinstance(sub, int):
                return sub
            names = [sub.name]
        else:
            names = [st.subscription for st in await events.state(pool) if st.active]
        if not names:
            out("no subscription to redeliver to")
            return BAD_INPUT
        for name in names:
            n = await events.redeliver(pool, name, args.since)
            out(f"{name}: {n} events since {args.since.isoformat()} queued again")
    return 0
