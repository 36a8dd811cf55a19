"""`python -m ops`: the saved searches from the command line.

`list` names them; `query NAME` prints the filter (paste it into the Web UI, or give it to
`temporal workflow list --query`); `find NAME` runs it and prints one case a line.
`stuck` lists the activities retrying beyond the threshold (activities/activity_watch.py), of
cases and screenings alike; `stuck --forget-stale` drops the rows no attempt refreshed for
a while (their workflow ended or was reset). `reconcile` compares every live case's workflow
with its registry row (ops/reconcile.py) and lists each difference; `--repair` writes the
missing rows and rewrites the differing ones from the workflow. Examples are in
docs/ops.md; exit codes: 0 fine, 1 found something, 2 bad input, 3 not every
case could be checked (reconcile), 4 Temporal, the registry or the worker unavailable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
from temporalio.service import RPCError

from activities.activity_watch import THRESHOLD
from models import search
from ops import reconcile
from ops import retention as retention_cli
from ops.searches import BY_NAME, SAVED_SEARCHES, SavedSearch
from registry import activity_watch
from registry.db import create_pool
from runtime.settings import ConfigError, load_settings
from runtime.temporal import connect


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the saved searches and the questions they answer")
    stuck = sub.add_parser(
        "stuck", help=f"activities that failed {THRESHOLD}+ times and are still retried"
    )
    stuck.add_argument(
        "--forget-stale",
        action="store_true",
        help="drop rows no attempt refreshed lately (their workflow ended or was reset)",
    )
    rec = sub.add_parser(
        "reconcile",
        help="compare every live case's workflow with its registry row; exit 1 on a difference",
    )
    rec.add_argument(
        "--repair",
        action="store_true",
        help="write the missing rows and rewrite the differing ones from the workflow",
    )
    rec.add_argument(
        "--full",
        action="store_true",
        help="ask every live case by query (default: only those visibility points at)",
    )
    rec.add_argument(
        "--concurrency",
        type=_concurrency,
        default=reconcile.DEFAULT_CONCURRENCY,
        help=f"queries at once, 1-64 (default {reconcile.DEFAULT_CONCURRENCY})",
    )
    retention_cli.register(sub)  # python -m ops retention (ops/retention.py)
    for name, text in (("query", "print a search's filter"), ("find", "run a search")):
        p = sub.add_parser(name, help=text)
        p.add_argument("search", choices=sorted(BY_NAME))
        p.add_argument("--body", help="competent body: VOC or 'PC 200'")
        p.add_argument("--provider", help="enterprise number, e.g. 0123.456.749")
        p.add_argument(
            "--now",
            type=datetime.fromisoformat,
            help="the instant 'this week/year' refers to (ISO 8601 with offset; default now)",
        )
    return parser


def _concurrency(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 64")
    return value


async def _reconcile(args: argparse.Namespace) -> int:
    """Each difference a line (dossier, field, row value, workflow value), then a summary.
    Exit code 1 when a difference or a missing row is left, 3 when some cases could not be
    checked, 0 when every live case agrees with its row."""
    settings = load_settings()
    try:
        client = await connect(settings)
    except RuntimeError as exc:
        raise reconcile.Unavailable("Temporal", str(exc)) from exc
    try:
        pool = await create_pool(
            settings, min_size=0, max_size=args.concurrency + 2, timeout=5
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise reconcile.Unavailable("the registry", str(exc) or type(exc).__name__) from exc
    try:
        report = await reconcile.reconcile(
            client, pool, repair=args.repair, full=args.full, concurrency=args.concurrency
        )
    finally:
        await pool.close()
    for line in report.lines():
        sys.stdout.write(line + "\n")
    return report.exit_code


def _query(search: SavedSearch, args: argparse.Namespace) -> str:
    now = args.now or datetime.now(UTC)
    return search.query(now=now, body=args.body, provider=args.provider)


async def _find(query: str) -> int:
    settings = load_settings()
    client = await connect(settings)
    async for wf in client.list_workflows(query):
        state = wf.typed_search_attributes.get(search.STATE) or ""
        sys.stdout.write(f"{wf.id}\t{wf.status.name if wf.status else ''}\t{state}\n")
    return 0


async def _stuck(forget_stale: bool) -> int:
    """One activity a line: workflow, activity, attempts, since, last error. Exit code 1
    when any is retrying (so a script or cron can alert on it), 0 when none."""
    settings = load_settings()
    pool = await create_pool(settings, min_size=0, timeout=5)
    try:
        if forget_stale:
            n = await activity_watch.forget_stale(pool)
            sys.stdout.write(f"forgot {n} stale row(s)\n")
        rows = await activity_watch.listing(pool)
    finally:
        await pool.close()
    if not rows:
        sys.stdout.write(f"no activity has failed {THRESHOLD} times and is still retried\n")
        return 0
    for r in rows:
        since = r.first_seen_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        state = "STALE (not retried lately)" if r.stale else f"attempt {r.attempt}"
        sys.stdout.write(
            f"{r.workflow_id}\t{r.workflow_type}\t{r.activity_type}\t{state}\t"
            f"since {since}\t{r.last_error[:300]}\n"
        )
    return 1 if any(not r.stale for r in rows) else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "retention":
        return retention_cli.main(args)
    if args.command == "stuck":
        try:
            return asyncio.run(_stuck(args.forget_stale))
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            sys.stderr.write(f"the registry is unavailable: {exc}; is the stack running?\n")
            return 4
    if args.command == "reconcile":
        try:
            return asyncio.run(_reconcile(args))
        except ConfigError as exc:
            sys.stderr.write(f"{exc}\n")
            return 2
        except reconcile.Unavailable as exc:
            sys.stderr.write(f"{exc}; is the stack running (make run)? nothing was recorded\n")
            return 4
    if args.command == "list":
        for s in SAVED_SEARCHES:
            needs = " ".join(f"--{n}" for n in s.needs if n != "now")
            sys.stdout.write(f"{s.name:<26} {needs:<12} {s.question}\n")
        return 0
    try:
        query = _query(BY_NAME[args.search], args)
        if args.command == "query":
            sys.stdout.write(query + "\n")
            return 0
        return asyncio.run(_find(query))
    except (ValueError, ConfigError) as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    except (RuntimeError, RPCError) as exc:
        sys.stderr.write(f"Temporal is unavailable: {exc}; is the stack running (make run)?\n")
        return 4


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The Temporal client's Rust threads may still call into Python while the interpreter
    # finalizes ("PyGILState_Release ... finalizing", abort): exit without finalizing, as
    # `python -m starter` does.
    os._exit(code)
