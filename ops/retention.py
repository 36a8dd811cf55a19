"""`python -m ops retention`: what is kept, and for how long (retention.yaml).

    python -m ops retention                       the table, the last purge runs, the holds
    python -m ops retention --dry-run [--as-of T] [--all]
                                                  what a purge as of T (default now) takes,
                                                  per kind: rule, count, period, the keys
    python -m ops retention --run [--as-of T]     run the purge now (the workflow the nightly
                                                  schedule starts) and print what it took
    python -m ops retention --check [FILE]        validate a table (default: the settings')
    python -m ops retention --hold ODB-… --reason "…"   keep a dossier whole (a case in court)
    python -m ops retention --release ODB-…
    python -m ops retention --verify FILE.zip     check an archive file against its manifest
    python -m ops retention repair [--dry-run] [--dossier ODB-…]
                                                  rows an earlier strip damaged: restored
                                                  from the archives, stripped as declared
                                                  (personal_fields.yaml), audited

Exit codes: 0 done, 1 an archive that does not verify, 2 refused (a bad table or input,
named), 4 a server unavailable.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.service import RPCError

from models.application import DOSSIER_PATTERN
from models.retention import Due, Kind, RetentionInput, RetentionReport, RetentionTable
from registry import retention as repo
from registry.db import create_pool
from runtime.retention_table import TableError, load_personal, load_table
from runtime.settings import ConfigError, Settings, load_settings
from runtime.temporal import connect

SHOWN_KEYS = 20


def register(sub: Any) -> None:
    p = sub.add_parser(
        "retention", help="what is kept and for how long: dry run, run, holds, archives"
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=["repair"],
        help="repair: restore what an earlier strip damaged from the archives (--dry-run: "
        "print what would change)",
    )
    p.add_argument("--dossier", help="repair: only this dossier")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--dry-run", action="store_true", help="print what a purge would take")
    what.add_argument("--run", action="store_true", help="run the purge now and wait for it")
    what.add_argument("--check", nargs="?", const="", metavar="FILE", help="validate a table")
    what.add_argument("--hold", metavar="DOSSIER", help="keep a dossier whole until released")
    what.add_argument("--release", metavar="DOSSIER", help="lift a dossier's hold")
    what.add_argument("--verify", metavar="FILE", type=Path, help="check an archive file")
    p.add_argument(
        "--as-of",
        type=_instant,
        help="the instant (ISO 8601 with offset; default now); --run never ahead of the clock",
    )
    p.add_argument("--all", action="store_true", help="--dry-run: list every key, not 20")
    p.add_argument("--reason", help="--hold: why (kept with the hold)")
    p.add_argument("--subject", default="ops-cli", help="--hold: who asks (kept with it)")
    p.add_argument("--batch-size", type=int, help="--run: records per batch (default: settings)")


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give the offset, e.g. 2027-03-01T02:30+01:00")
    return value


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def main(args: argparse.Namespace) -> int:
    if args.action == "repair" and (
        args.run or args.check is not None or args.hold or args.release or args.verify is not None
    ):
        _err("repair takes --dry-run and --dossier only")
        return 2
    if args.dossier is not None and args.action != "repair":
        _err("--dossier is for repair: python -m ops retention repair --dossier ODB-…")
        return 2
    if args.dossier is not None and not re.match(DOSSIER_PATTERN, args.dossier):
        _err(f"--dossier: {args.dossier!r} is not a dossier number (ODB-2027-000123)")
        return 2
    if args.check is not None:
        return _check(args.check)
    if args.verify is not None:
        return _verify(args.verify)
    for name in ("hold", "release"):
        value = getattr(args, name)
        if value is not None and not re.match(DOSSIER_PATTERN, value):
            _err(f"--{name}: {value!r} is not a dossier number (ODB-2027-000123)")
            return 2
    if args.hold is not None and not (args.reason and len(args.reason.strip()) >= 3):
        _err("--hold needs --reason: why the dossier is kept whole (at least 3 characters)")
        return 2
    if args.batch_size is not None and not 1 <= args.batch_size <= 10000:
        _err(f"--batch-size: {args.batch_size} is not between 1 and 10000")
        return 2
    try:
        settings = load_settings()
    except ConfigError as exc:
        _err(str(exc))
        return 2
    if args.run and args.as_of is not None and args.as_of > datetime.now(UTC):
        _err(
            "--as-of: the purge never runs ahead of the clock; a future instant is for "
            "--dry-run (what will go by then)"
        )
        return 2
    try:
        return asyncio.run(_main(args, settings))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        _err(f"the registry is unavailable: {exc}; is the stack running?")
        return 4
    except (RuntimeError, RPCError) as exc:
        _err(f"Temporal is unavailable: {exc}; is the stack running (make run)?")
        return 4


def _table(settings: Settings) -> RetentionTable:
    return load_table(settings.resolve(settings.retention.table))


def _check(path: str) -> int:
    """A table, or a declaration of personal fields (a file with `tables:`); no FILE: both
    of the settings."""
    try:
        target = Path(path) if path else None
        personal: Path | None = None
        if target is None:
            settings = load_settings()
            target = settings.resolve(settings.retention.table)
            personal = settings.resolve(settings.retention.personal_fields)
        elif _is_declaration(target):
            target, personal = None, target
        if target is not None:
            table = load_table(target)
            _out(f"{target}: retention table {table.version} is valid")
            _out(describe(table))
        if personal is not None:
            fields = load_personal(personal)
            count = sum(len(t.fields) for t in fields.tables.values())
            _out(
                f"{personal}: personal fields {fields.version} are valid: {count} fields of "
                f"{len(fields.tables)} tables ({', '.join(fields.tables)})"
            )
    except TableError as exc:
        _err(f"{exc.path}: cannot be used:")
        for key, why in exc.problems:
            _err(f"  {key}: {why}")
        return 2
    except ConfigError as exc:
        _err(str(exc))
        return 2
    return 0


def _is_declaration(path: Path) -> bool:
    try:
        return "\ntables:" in "\n" + path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def describe(table: RetentionTable) -> str:
    lines = []
    for kind in Kind:
        rule = table.rule(kind)
        lines.append(f"  {kind.value:<18} {rule.text()}")
    return "\n".join(lines)


def _verify(path: Path) -> int:
    from activities.archives import read_manifest, verify

    try:
        problems = verify(path)
        manifest = read_manifest(path)
    except (OSError, ValueError, KeyError) as exc:
        _err(f"{path}: not an archive file of this system: {exc}")
        return 2
    if problems:
        for p in problems:
            _out(f"{path}: {p}")
        return 1
    _out(
        f"{path}: {manifest.kind} {manifest.subject}, as of {manifest.as_of.isoformat()}: "
        f"all {len(manifest.parts)} parts match their SHA-256"
    )
    return 0


async def _main(args: argparse.Namespace, settings: Settings) -> int:
    if args.run:
        return await _run(args, settings)
    pool = await create_pool(settings, min_size=0, timeout=5)
    try:
        if args.action == "repair":
            from ops.retention_repair import repair, report

            personal = load_personal(settings.resolve(settings.retention.personal_fields))
            outcome = await repair(
                pool,
                personal,
                settings.archive_path,
                dry=args.dry_run,
                by=args.subject,
                dossier=args.dossier,
            )
            return report(outcome)
        if args.dry_run:
            as_of = args.as_of or datetime.now(UTC)
            async with pool.acquire() as conn:
                due = await repo.due(conn, _table(settings), as_of)
            _out(dry_run_text(due, as_of, _table(settings), every=args.all))
            return 0
        if args.hold is not None:
            try:
                new = await repo.hold(pool, args.hold, args.reason.strip(), args.subject)
            except asyncpg.ForeignKeyViolationError:
                _err(f"--hold: there is no dossier {args.hold}")
                return 2
            _out(
                f"{args.hold} {'is now' if new else 'was already'} on hold: nothing of it is purged"
            )
            return 0
        if args.release is not None:
            gone = await repo.release(pool, args.release)
            if not gone:
                _err(f"--release: {args.release} is not on hold; nothing changed")
                return 2
            _out(f"{args.release} released: the next purge applies the table to it")
            return 0
        table = _table(settings)
        _out(f"retention table {table.version} ({settings.retention.table}):")
        _out(describe(table))
        runs = await repo.last_runs(pool)
        _out("last purge runs:" if runs else "no purge has run yet")
        for r in runs:
            state = f"finished {r['finished_at'].isoformat()}" if r["finished_at"] else "running"
            _out(
                f"  {r['run_id']}  as of {r['as_of'].isoformat()}  table {r['table_version']}  "
                f"{state}  taken {r['taken'] or {}}  archives written {r['archived'] or 0}"
            )
        for h in await repo.holds(pool):
            _out(
                f"on hold: {h['dossier']} since {h['held_at'].date()} by {h['held_by']}: "
                f"{h['reason']}"
            )
        return 0
    finally:
        await pool.close()


def dry_run_text(due: list[Due], as_of: datetime, table: RetentionTable, every: bool) -> str:
    """Per kind: how many records go, what is done to them, under which rule, the period of
    their moments, and their keys (dossiers, document ids, enterprise numbers)."""
    lines = [
        f"dry run as of {as_of.isoformat()}, table {table.version}: nothing is changed",
        f"{'kind':<18} {'due':>6}  {'action':<15} rule",
    ]
    for d in due:
        if d.rule.period is None:
            lines.append(f"{d.kind.value:<18} {'-':>6}  {'keep':<15} kept permanently")
            continue
        period = (
            f"; {d.rule.after.value} from {d.moment_from.isoformat()} to {d.moment_to.isoformat()}"
            if d.moment_from and d.moment_to
            else ""
        )
        lines.append(
            f"{d.kind.value:<18} {d.count:>6}  {d.rule.then.value:<15} "
            f"{d.rule.period.text()} after {d.rule.after.value}{period}"
        )
        keys = d.keys if every else d.keys[:SHOWN_KEYS]
        if keys:
            lines.append("    " + " ".join(keys))
        if len(d.keys) > len(keys):
            lines.append(f"    ... and {len(d.keys) - len(keys)} more (--all lists them)")
    return "\n".join(lines)


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from workflows.retention import RetentionWorkflow

    client = await connect(settings)
    r = settings.retention
    as_of = args.as_of or datetime.now(UTC)
    now = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id = f"{r.schedule_id}-manual-{now}"
    _out(f"purge {run_id} as of {as_of.isoformat()} ...")
    report: RetentionReport = await client.execute_workflow(
        RetentionWorkflow.run,
        RetentionInput(
            as_of=as_of,
            batch_size=args.batch_size or r.batch_size,
            batches_per_run=r.batches_per_run,
        ),
        id=run_id,
        task_queue=settings.temporal.task_queue,
        static_summary="Bewaartermijnen toepassen (ops)",
    )
    _out(
        f"done: table {report.table_version}, archives written {report.archived}, "
        f"{report.batches} batches"
    )
    pool = await create_pool(settings, min_size=0, timeout=5)
    try:
        for b in reversed(await repo.batches(pool, report.run_id, limit=10000)):
            _out(
                f"  {b.kind:<18} {b.action:<15} {b.count:>6}  {b.rule}; "
                f"moments {b.moment_from.isoformat() if b.moment_from else '-'} .. "
                f"{b.moment_to.isoformat() if b.moment_to else '-'}"
            )
    finally:
        await pool.close()
    for kind, n in report.taken.items():
        _out(f"{kind}: {n}")
    return 0
