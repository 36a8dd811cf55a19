"""`python -m starter setup [--check]`: makes a Temporal cluster and a PostgreSQL database
ready for this system, and is what the dev stack runs for the same steps (one home).

Steps, each idempotent and safe to run from several hosts at once:

1. **migrations**: `registry.migrate.migrate` (session advisory lock: a second runner waits,
   then finds nothing to apply);
2. **namespace**: created with `temporal.retention_days` when it does not exist and the
   caller may (two creators at once: the second finds it exists). Temporal Cloud namespaces
   are made with `tcld` or the Cloud UI; setup says how;
3. **search attributes** (`models.search.ALL`): the missing ones are registered; one that
   exists with another type is refused, naming both types. Temporal Cloud takes them only
   through `tcld`: setup prints the exact commands and checks whether they were applied;
4. **schedule**: the yearly screening (`starter.deploy.schedule.ensure_schedule`), created, or
   updated when it differs from the settings; a pause set by ops is kept;
5. **retention schedule**: the nightly purge (`starter.deploy.retention`), like the screening's;
6. **event delivery**: nothing to start here. Every worker starts the delivery workflow of
   each subscription at start-up (`worker.main` -> `activities.events.start_delivery`).

`--check` changes nothing: it says what setup would do and exits 1 when anything is
missing (for a deploy pipeline). Exit codes: 0 ready, 1 something missing (with --check, or
a Temporal Cloud step left to `tcld`), 2 refused (a type conflict, no permission, a server
that does not answer: the message says what to do).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleRange,
)
from temporalio.common import SearchAttributeKey
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from models import search
from registry.db import connect as pg_connect
from registry.db import dsn_from_settings
from registry.migrate import MigrationError, migrate, migration_files
from runtime.settings import ConfigError, Settings, load_settings
from runtime.temporal import TemporalConnectError, add_missing_search_attributes, connect
from starter.deploy import retention as retention_schedule
from starter.deploy.schedule import build_schedule, check_settings, ensure_schedule

# Type names as `temporal operator search-attribute create` and `tcld` spell them.
TYPE_NAMES: dict[int, str] = {
    IndexedValueType.INDEXED_VALUE_TYPE_TEXT: "Text",
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
    IndexedValueType.INDEXED_VALUE_TYPE_INT: "Int",
    IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE: "Double",
    IndexedValueType.INDEXED_VALUE_TYPE_BOOL: "Bool",
    IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: "Datetime",
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST: "KeywordList",
}
NAMESPACE_WAIT = 60.0  # seconds for a new namespace to reach every frontend's cache
RACE_ATTEMPTS = 5  # another host changing the same thing at once: look again, this often


class Status(Enum):
    OK = "ok"  # already as wanted
    CHANGED = "changed"  # setup made it so
    MISSING = "missing"  # --check: setup would change it
    MANUAL = "manual"  # an operator must act (Temporal Cloud: tcld), then run setup again
    REFUSED = "refused"  # cannot be made right by setup: the message says what to do
    SKIPPED = "skipped"  # depends on a step that is not done (refused, or left to tcld)


@dataclass
class Step:
    name: str
    status: Status
    detail: str
    changes: list[str] = field(default_factory=list)  # what was (or would be) done
    commands: list[str] = field(default_factory=list)  # for an operator to run

    @property
    def ready(self) -> bool:
        return self.status in (Status.OK, Status.CHANGED)


@dataclass
class Report:
    steps: list[Step] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if any(s.status == Status.REFUSED for s in self.steps):
            return 2
        return 0 if all(s.ready for s in self.steps) else 1

    @property
    def changed(self) -> bool:
        return any(s.status == Status.CHANGED for s in self.steps)

    def lines(self) -> list[str]:
        out: list[str] = []
        for s in self.steps:
            out.append(f"{s.name:<18} {s.status.value:<8} {s.detail}")
            out.extend(f"    {c}" for c in s.commands)
        return out


class SetupRefused(Exception):
    """A step that setup cannot complete; the message names the thing and what to do."""


def is_cloud(settings: Settings) -> bool:
    """Temporal Cloud: an API key, or a namespace endpoint `<ns>.<account>.tmprl.cloud`."""
    t = settings.temporal
    return bool(t.api_key) or t.host.endswith(".tmprl.cloud")


def redacted(dsn: str) -> str:
    """The database URL without its password, for messages."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# ---- 1. migrations ----


async def pending_migrations(conn: asyncpg.Connection[Any]) -> list[str]:
    """The migration files not yet applied (what `migrate` would apply); an applied file
    changed since is refused with migrate's own rule."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    applied: dict[str, str] = {}
    if exists:
        applied = {
            r["filename"]: r["sha256"]
            for r in await conn.fetch("SELECT filename, sha256 FROM schema_migrations")
        }
    pending = []
    for path in migration_files():
        digest = hashlib.sha256(path.read_text(encoding="utf-8").encode()).hexdigest()
        if path.name not in applied:
            pending.append(path.name)
        elif applied[path.name] != digest:
            raise MigrationError(
                f"{path.name} was changed after it was applied; migrations are "
                f"forward-only: revert the edit and add a new numbered file"
            )
    return pending


async def migrations(settings: Settings, *, check: bool = False, dsn: str | None = None) -> Step:
    """Applies (or, with check, lists) the migrations not yet applied. Raises SetupRefused
    when the database cannot be reached or a migration fails."""
    dsn = dsn or dsn_from_settings(settings)
    total = len(migration_files())
    try:
        conn = await pg_connect(settings, dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        raise SetupRefused(
            f"PostgreSQL at {redacted(dsn)} does not answer: {exc} "
            f"(set DATABASE_URL to the database this system uses)"
        ) from exc
    try:
        if check:
            todo = await pending_migrations(conn)
        else:
            todo = await migrate(conn)
    except (OSError, asyncpg.PostgresError, MigrationError) as exc:
        raise SetupRefused(f"PostgreSQL at {redacted(dsn)}: {exc}") from exc
    finally:
        await conn.close()
    if not todo:
        return Step("migrations", Status.OK, f"all {total} applied")
    verb = "would apply" if check else "applied"
    return Step(
        "migrations",
        Status.MISSING if check else Status.CHANGED,
        f"{verb} {len(todo)}: {', '.join(todo)}",
        changes=todo,
    )


# ---- 2. namespace ----


def _retention(settings: Settings) -> Duration:
    return Duration(seconds=int(timedelta(days=settings.temporal.retention_days).total_seconds()))


async def _namespace_exists(client: Client, namespace: str) -> bool:
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def namespace(
    client: Client, settings: Settings, *, check: bool = False, cloud: bool | None = None
) -> Step:
    ns, days = settings.temporal.namespace, settings.temporal.retention_days
    cloud = is_cloud(settings) if cloud is None else cloud
    if await _namespace_exists(client, ns):
        await _usable(client, ns)  # created a moment ago by another setup: wait for it
        return Step("namespace", Status.OK, f"{ns} exists")
    if cloud:
        return Step(
            "namespace",
            Status.MANUAL,
            f"{ns} does not exist; Temporal Cloud namespaces are created in the Cloud UI or "
            f"with tcld (retention {days} days, with the search attributes), then run setup "
            f"again",
            commands=[tcld_create_command(settings)],
        )
    if check:
        return Step(
            "namespace",
            Status.MISSING,
            f"would create {ns} (retention {days} days)",
            changes=[ns],
        )
    try:
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(
                namespace=ns,
                description="Opleidingsdatabank: one workflow per application",
                workflow_execution_retention_period=_retention(settings),
            )
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.ALREADY_EXISTS:  # another host created it just now
            await _usable(client, ns)
            return Step("namespace", Status.OK, f"{ns} exists (created by another setup)")
        if exc.status == RPCStatusCode.PERMISSION_DENIED:
            raise SetupRefused(
                f"namespace {ns} does not exist and these credentials may not create it "
                f"({exc.message}); ask the cluster's operator to run `temporal operator "
                f"namespace create --namespace {ns} --retention {days}d`, then run setup again"
            ) from exc
        raise
    await _usable(client, ns)
    return Step("namespace", Status.CHANGED, f"created {ns} (retention {days} days)", changes=[ns])


def tcld_create_command(settings: Settings) -> str:
    """`tcld namespace create` for this system: its retention, its search attributes, and
    the authentication the settings use. tcld's default is mutual TLS, which needs the CA
    that issues the clients' certificates (`--ca-certificate-file`); an API key namespace
    needs none."""
    t = settings.temporal
    if t.api_key:
        auth = "--auth-method api_key"
    else:
        auth = (
            "--auth-method mtls --ca-certificate-file <PEM of the CA that issued the client "
            "certificate in TEMPORAL_TLS_CERT>"
        )
    attributes = " ".join(
        f'--search-attribute "{key.name}={type_name(int(key.indexed_value_type))}"'
        for key in search.ALL
    )
    return (
        f"tcld namespace create --namespace {t.namespace.split('.')[0]} --region <region> "
        f"--retention-days {t.retention_days} {auth} {attributes}"
    )


async def _usable(client: Client, namespace: str) -> None:
    try:
        await wait_usable(client, namespace)
    except RPCError as exc:
        raise SetupRefused(
            f"namespace {namespace} exists but does not answer within "
            f"{NAMESPACE_WAIT:.0f} s: {exc}; run setup again"
        ) from exc


async def wait_usable(client: Client, ns: str, within: float = NAMESPACE_WAIT) -> None:
    """A namespace just created is known to every frontend only after their namespace
    cache refreshes (10 s by default): until then its calls answer NOT_FOUND."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=ns)
            )
            return
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND or loop.time() > deadline:
                raise
        await asyncio.sleep(0.5)


# ---- 3. search attributes ----


@dataclass(frozen=True)
class AttributePlan:
    missing: list[SearchAttributeKey[Any]]
    conflicts: list[str]  # one sentence each
    others: dict[str, str]  # custom attributes of the namespace this system does not use: type


def type_name(value: int) -> str:
    return TYPE_NAMES.get(value, IndexedValueType.Name(value))  # type: ignore[arg-type]


async def plan_attributes(
    client: Client, ns: str, keys: Sequence[SearchAttributeKey[Any]]
) -> AttributePlan:
    have = (
        await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=ns)
        )
    ).custom_attributes
    missing, conflicts = [], []
    ours = {key.name for key in keys}
    others = {name: type_name(kind) for name, kind in have.items() if name not in ours}
    for key in keys:
        if key.name not in have:
            missing.append(key)
        elif int(have[key.name]) != int(key.indexed_value_type):
            conflicts.append(
                f"{key.name} exists on namespace {ns} as {type_name(have[key.name])}, but the "
                f"cases publish it as {type_name(int(key.indexed_value_type))}: a type cannot be "
                f"changed in place. Remove it (`temporal operator search-attribute remove "
                f"--namespace {ns} --name {key.name}`; Temporal Cloud: Temporal support) "
                f"when nothing else uses it, or use a namespace of its own, then run setup "
                f"again"
            )
    return AttributePlan(missing, conflicts, others)


def named(keys: Sequence[SearchAttributeKey[Any]]) -> str:
    """`OdbState (Keyword), OdbNextDeadline (Datetime), ...`"""
    return ", ".join(f"{key.name} ({type_name(int(key.indexed_value_type))})" for key in keys)


_LIMITED_TYPE = re.compile(r"of type (\w+)")


def server_refused(ns: str, plan: AttributePlan, exc: RPCError) -> str:
    """The server's own reason for refusing to add the attributes, and what to do. The one
    refusal seen in practice is a limit of SQL visibility (PostgreSQL, MySQL, SQLite): a
    fixed number of custom attributes per type and namespace, e.g. "cannot have more than
    3 search attribute of type Datetime"."""
    names = ", ".join(k.name for k in plan.missing)
    said = f'the server refused to add {names}: "{exc.message}" ({exc.status.name})'
    limited = _LIMITED_TYPE.search(exc.message)
    if limited is None:
        return f"search attributes on {ns}: {said}; change what it names, then run setup again"
    kind = limited.group(1)
    needed = [k for k in search.ALL if type_name(int(k.indexed_value_type)) == kind]
    taken = sorted(name for name, other in plan.others.items() if other == kind)
    if not taken:
        return (
            f"search attributes on {ns}: {said}. This system needs {len(needed)} of type "
            f"{kind} ({', '.join(k.name for k in needed)}), more than this cluster's "
            f"visibility store allows per namespace: use Elasticsearch visibility, or ask the "
            f"cluster's operator to raise the limit, then run setup again"
        )
    removes = "; ".join(
        f"`temporal operator search-attribute remove --namespace {ns} --name {name}`"
        for name in taken
    )
    return (
        f"search attributes on {ns}: {said}. The namespace's visibility store holds only so "
        f"many custom attributes of one type, this system needs {len(needed)} of type {kind} "
        f"({', '.join(k.name for k in needed)}), and the namespace already has "
        f"{', '.join(taken)} ({kind}), which this system does not use. Remove what nothing "
        f"uses any more ({removes}), or give this system a namespace of its own "
        f"(TEMPORAL_NAMESPACE), then run setup again"
    )


def tcld_commands(ns: str, keys: Sequence[SearchAttributeKey[Any]]) -> list[str]:
    return [
        f"tcld namespace search-attributes add --namespace {ns} "
        f'--search-attribute "{key.name}={type_name(int(key.indexed_value_type))}"'
        for key in keys
    ]


async def search_attributes(
    client: Client,
    settings: Settings,
    *,
    check: bool = False,
    cloud: bool | None = None,
    keys: Sequence[SearchAttributeKey[Any]] = search.ALL,
) -> Step:
    ns = settings.temporal.namespace
    cloud = is_cloud(settings) if cloud is None else cloud
    added: list[str] = []
    last: RPCError | None = None
    for _ in range(RACE_ATTEMPTS):
        plan = await plan_attributes(client, ns, keys)
        if plan.conflicts:
            return Step(
                "search attributes", Status.REFUSED, "; ".join(plan.conflicts), changes=added
            )
        names = [k.name for k in plan.missing]
        if not plan.missing:
            if added:
                return Step(
                    "search attributes",
                    Status.CHANGED,
                    f"added {', '.join(added)}",
                    changes=added,
                )
            return Step("search attributes", Status.OK, f"all {len(keys)} registered")
        if cloud:
            return Step(
                "search attributes",
                Status.MANUAL,
                f"missing on Temporal Cloud: {', '.join(names)}; Cloud takes them only "
                f"through tcld (or the Cloud UI): run these, then setup again to check",
                changes=names,
                commands=tcld_commands(ns, plan.missing),
            )
        if check:
            return Step(
                "search attributes",
                Status.MISSING,
                f"would add {named(plan.missing)}",
                changes=names,
            )
        try:
            added += await add_missing_search_attributes(client, ns, plan.missing)
        except RPCError as exc:
            # Another setup adding some of them between our look and our add: look again.
            if exc.status not in (
                RPCStatusCode.ALREADY_EXISTS,
                RPCStatusCode.INVALID_ARGUMENT,
                RPCStatusCode.FAILED_PRECONDITION,
                RPCStatusCode.UNAVAILABLE,
                RPCStatusCode.ABORTED,
            ):
                raise
            last = exc
            if exc.status == RPCStatusCode.INVALID_ARGUMENT:
                after = await plan_attributes(client, ns, keys)
                if [k.name for k in after.missing] == names:
                    # Nobody added any of them meanwhile: the refusal is the server's own
                    # (a limit), and asking again gets the same answer.
                    raise SetupRefused(server_refused(ns, after, exc)) from exc
            await asyncio.sleep(0.5)
    assert last is not None  # a turn that did not return caught a refusal
    raise SetupRefused(
        f"search attributes on {ns}: still missing after {RACE_ATTEMPTS} attempts; the "
        f'server\'s last answer: "{last.message}" ({last.status.name}); run setup again, '
        f"and if it says the same, change what it names"
    )


# ---- 4. the screening schedule ----


def _ranges(ranges: Sequence[ScheduleRange]) -> list[tuple[int, int, int]]:
    # The server fills in end = start and step = 1 where they were left out.
    return sorted((r.start, max(r.end, r.start), r.step or 1) for r in ranges)


def _calendar(c: ScheduleCalendarSpec) -> tuple[Any, ...]:
    return tuple(
        _ranges(rs)
        for rs in (c.second, c.minute, c.hour, c.day_of_month, c.month, c.year, c.day_of_week)
    )


async def schedule_differences(
    current: Schedule, wanted: Schedule, converter: DataConverter
) -> list[str]:
    """What an update would change (the pause state and its note are ops' and not
    compared)."""
    diffs = []
    a, b = current.action, wanted.action
    if not isinstance(a, ScheduleActionStartWorkflow) or not isinstance(
        b, ScheduleActionStartWorkflow
    ):
        return ["action"]
    if (a.workflow, a.id, a.task_queue) != (b.workflow, b.id, b.task_queue):
        diffs.append("action")
    # The input the workflow starts with (a purge's batch sizes) comes from the settings
    # too: compared as the workflow reads it, not as bytes.
    try:
        started_with = await converter.decode(a.args, [type(arg) for arg in b.args])
    except Exception:  # an input of another shape (an older release's): replaced
        started_with = None
    if started_with != list(b.args):
        diffs.append("input")
    cur_cal = sorted(_calendar(c) for c in current.spec.calendars)
    want_cal = sorted(_calendar(c) for c in wanted.spec.calendars)
    if cur_cal != want_cal or current.spec.time_zone_name != wanted.spec.time_zone_name:
        diffs.append("when it fires")
    if (current.policy.overlap, current.policy.catchup_window) != (
        wanted.policy.overlap,
        wanted.policy.catchup_window,
    ):
        diffs.append("policy")
    return diffs


async def schedule(client: Client, settings: Settings, *, check: bool = False) -> Step:
    check_settings(settings)
    return await _schedule_step(
        client,
        "schedule",
        settings.screening.schedule_id,
        build_schedule(settings),
        lambda: ensure_schedule(client, settings),
        check=check,
    )


# ---- 5. the retention schedule ----


async def retention(client: Client, settings: Settings, *, check: bool = False) -> Step:
    """The nightly purge's schedule, as `schedule` does the screening's."""
    retention_schedule.check_settings(settings)
    return await _schedule_step(
        client,
        "retention schedule",
        settings.retention.schedule_id,
        retention_schedule.build_schedule(settings),
        lambda: retention_schedule.ensure_schedule(client, settings),
        check=check,
    )


async def _schedule_step(
    client: Client,
    name: str,
    sid: str,
    wanted: Schedule,
    ensure: Callable[[], Awaitable[object]],
    *,
    check: bool,
) -> Step:
    for _ in range(RACE_ATTEMPTS):
        try:
            desc = await client.get_schedule_handle(sid).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            if check:
                return Step(name, Status.MISSING, f"would create {sid}", changes=[sid])
            verb = "created"
        else:
            diffs = await schedule_differences(desc.schedule, wanted, client.data_converter)
            paused = " (paused by ops: kept paused)" if desc.schedule.state.paused else ""
            if not diffs:
                return Step(name, Status.OK, f"{sid} matches the settings{paused}")
            if check:
                return Step(
                    name,
                    Status.MISSING,
                    f"would update {sid}: {', '.join(diffs)}{paused}",
                    changes=diffs,
                )
            verb = f"updated ({', '.join(diffs)}){paused}"
        try:
            await ensure()
        except RPCError as exc:
            # Two setups updating at once: the second's conflict token is stale. Look again.
            if exc.status not in (RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.ABORTED):
                raise
            await asyncio.sleep(0.5)
            continue
        return Step(name, Status.CHANGED, f"{sid} {verb}", changes=[sid])
    raise SetupRefused(f"schedule {sid}: kept changing under setup; run setup again")


# ---- 6. event delivery ----


def event_delivery(settings: Settings) -> Step:
    subs = sorted(settings.events.subscriptions)
    if not subs:
        return Step("event delivery", Status.OK, "no webhook subscriptions configured")
    return Step(
        "event delivery",
        Status.OK,
        f"{', '.join('events-' + s for s in subs)}: started by every worker at start-up",
    )


# ---- all of it ----


async def run(
    settings: Settings,
    *,
    check: bool = False,
    client: Client | None = None,
    cloud: bool | None = None,
) -> Report:
    """Every step, in order; a step that cannot be done is reported and the steps that
    depend on it are skipped."""
    report = Report()

    async def attempt(name: str, step: Any) -> Step:
        try:
            result: Step = await step
        except SetupRefused as exc:
            result = Step(name, Status.REFUSED, str(exc))
        except ConfigError as exc:
            result = Step(name, Status.REFUSED, str(exc))
        except RPCError as exc:
            result = Step(name, Status.REFUSED, f"Temporal answered {exc.status.name}: {exc}")
        report.steps.append(result)
        return result

    await attempt("migrations", migrations(settings, check=check))
    t = settings.temporal
    if client is None:
        try:
            client = await connect(settings)
        except TemporalConnectError as exc:  # a TLS mismatch: it names the variable
            report.steps.append(Step("temporal", Status.REFUSED, str(exc)))
            return report
        except Exception as exc:  # the SDK raises RuntimeError for a refused connection
            report.steps.append(
                Step(
                    "temporal",
                    Status.REFUSED,
                    f"Temporal at {t.address} does not answer: {exc} (set TEMPORAL_ADDRESS; "
                    f"for a secured cluster TEMPORAL_TLS_CA or TEMPORAL_TLS=true, "
                    f"TEMPORAL_TLS_CERT + TEMPORAL_TLS_KEY, or TEMPORAL_API_KEY)",
                )
            )
            return report
    ns = await attempt("namespace", namespace(client, settings, check=check, cloud=cloud))
    if ns.ready:
        await attempt(
            "search attributes", search_attributes(client, settings, check=check, cloud=cloud)
        )
        await attempt("schedule", schedule(client, settings, check=check))
        await attempt("retention schedule", retention(client, settings, check=check))
    elif ns.status == Status.MISSING:  # --check on a cluster without the namespace
        report.steps += [
            Step(
                "search attributes",
                Status.MISSING,
                f"would add all {len(search.ALL)} once the namespace exists: {named(search.ALL)}",
                changes=[key.name for key in search.ALL],
            ),
            Step(
                "schedule",
                Status.MISSING,
                f"would create {settings.screening.schedule_id} once the namespace exists",
            ),
            Step(
                "retention schedule",
                Status.MISSING,
                f"would create {settings.retention.schedule_id} once the namespace exists",
            ),
        ]
    else:
        for name in ("search attributes", "schedule", "retention schedule"):
            report.steps.append(Step(name, Status.SKIPPED, f"needs namespace {t.namespace} first"))
    report.steps.append(event_delivery(settings))
    return report


# ---- command line ----


def register(sub: Any) -> None:
    p = sub.add_parser(
        "setup",
        help="make Temporal and PostgreSQL ready: migrations, namespace, search attributes, "
        "schedule (idempotent; --check changes nothing)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="only report what setup would change; exit 1 when anything is missing",
    )
    p.set_defaults(run=_cmd_setup)


async def _cmd_setup(args: argparse.Namespace) -> int:
    from starter.cli.main import out

    settings = load_settings()
    t = settings.temporal
    out(
        f"setup{' --check' if args.check else ''}: Temporal {t.address} namespace {t.namespace}"
        f"{' (Temporal Cloud)' if is_cloud(settings) else ''}, "
        f"PostgreSQL {redacted(dsn_from_settings(settings))}"
    )
    report = await run(settings, check=args.check)
    for line in report.lines():
        out(line)
    code = report.exit_code
    if code == 0:
        out("ready" + ("" if report.changed or args.check else "; nothing to change"))
    elif code == 1:
        sys.stderr.write(
            "not ready: run `python -m starter setup`\n"
            if args.check
            else "not ready: run the commands above, then setup again\n"
        )
    else:
        sys.stderr.write("setup refused: see the lines marked refused or skipped above\n")
    return code
