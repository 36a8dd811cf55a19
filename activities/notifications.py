"""E-mails: Dutch templates rendered into the outbox, then delivered apart from the step
that queued them, at least once, never lost.

THE GUARANTEE (at least once, recorded):
- A step's e-mails are written to the outbox in the same transaction as the step itself, so
  they exist exactly once, with a stable Message-ID per (dossier, kind, step[, recipient]).
  Recording a step never talks to SMTP: a decision answers whatever the mail server does.
- Each notice is then delivered by durable work of its own (the case's `notifications.send`
  activity, or the screening's delivery page), retried until SMTP accepts it.
- Before talking to SMTP a message is claimed ('sending', with a lease) in its own committed
  statement. The same claimant (a retried activity) takes it back at once; any other only
  when the lease ran out. So a worker that dies or stalls mid-send delays a notice, never
  loses it.
- Failure before the server accepted the message: back to 'pending', retried. Failure after
  the body was handed over but before the server's reply (or a crash before we recorded the
  reply): sent again, with the same Message-ID. A duplicate can only arise there, and it is
  recognisable as one. A definite 5xx rejection: 'failed', not retried; ops resend it
  (`python -m starter mail resend`) once the cause (an address) is fixed.
- A notice is rendered again when it is sent: the day it goes out is the day the provider
  receives it, and the dates it quotes (the appeal deadline) run from that day. A notice
  sent again after it was accepted keeps the dates of its first acceptance.
- The text is rendered before SMTP, the case counts from the acceptance. When the server
  accepts on a later Brussels day than the text assumed (a reply after midnight; an
  uncertain attempt, then a retry on a later day), the case keeps the later day and a
  correction (`notice_corrected`, its own Message-ID) quoting it goes out at once, queued in
  the transaction that records the acceptance (`_settle`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import smtplib
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import jinja2
import structlog
from pydantic_core import to_jsonable_python
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.dutch import dutch_date
from models.steps import (
    NoticeSent,
    NotificationKind,
    NotificationRequest,
    Recipient,
    SendNoticeInput,
    StepInput,
)
from registry import applications, documents
from registry import notifications as outbox
from registry.db import Conn
from registry.errors import InvalidInput, NotFound
from rules import deadlines
from rules.notices import correction as notice_correction
from rules.notices import dated_by_sending
from rules.notices import message_id as notice_message_id
from runtime.settings import PROJECT_ROOT, Settings, SmtpSettings

K = NotificationKind
# Context keys the workflow must send per kind (dates as ISO strings). Every template also
# gets, from the registry: dossier, title, provider_name, start_date, competent_body,
# contact_address, bec_address, department_address. Optional keys are named in each
# template's header comment.
REQUIRED_CONTEXT: dict[NotificationKind, tuple[str, ...]] = {
    K.ACKNOWLEDGMENT: ("late_warning",),
    K.APPROVAL: ("registered_from",),
    K.REFUSAL: ("reason",),  # + appeal_deadline, from the day it is sent
    K.WITHDRAWAL: (),
    K.APPEAL_RECEIVED: ("appeal_number", "decision_deadline"),
    K.BEC_DECISION: ("granted", "reason"),
    K.BEC_OVERDUE: ("appeal_number", "decision_deadline"),
    # + removal_on, appeal_deadline if not passed: from the day it is sent
    K.SCREENING_RESULT: ("year", "passed", "remarks"),
    K.REMOVAL: ("last_day",),
    K.STOP_CONFIRMATION: ("last_day",),
    K.REVOCATION: ("last_day", "reason"),
    K.FINAL_REFUSAL: (),
    K.DEADLINE_CORRECTED: ("deadline_kind", "last_day", "reason"),
    # + appeal_deadline, removal_on (and was_<each>): only those that changed
    K.NOTICE_CORRECTED: ("corrects_subject", "assumed_on", "accepted_on"),
}

TEMPLATES_DIR = PROJECT_ROOT / "templates"
BRUSSELS = ZoneInfo("Europe/Brussels")
_DEADLINE_NL = {
    "appeal_window": "de beroepstermijn",
    "bec_decision": "de beslissingstermijn van de BEC",
    "removal": "de datum van verwijdering",
}

log = structlog.get_logger("activities.notifications")


class TemplateContextError(InvalidInput):
    """A template lacks a context key: a bug in the caller, not worth retrying."""


def belgian_date(value: date | datetime | str) -> str:
    """`31 december 2028`; datetimes are read in Europe/Brussels."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = (value.astimezone(BRUSSELS) if value.tzinfo else value).date()
    return dutch_date(value)


def _body_name(body: str) -> str:
    """The competent body with its article, to open a sentence."""
    if body == "VOC":
        return "De Vlaamse opleidingscommissie (VOC)"
    return f"Het paritair comité {body.removeprefix('PC ')}"


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # plain-text mail, nothing is HTML
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.filters["datum"] = belgian_date
_env.filters["orgaan"] = _body_name
_env.filters["termijn"] = lambda kind: _DEADLINE_NL.get(str(kind), str(kind))


def missing_keys(request: NotificationRequest) -> list[str]:
    return [k for k in REQUIRED_CONTEXT[request.kind] if k not in request.context]


def check_context(step: StepInput) -> None:
    problems = [
        (f"notifications.{r.kind.value}.context.{key}", "required by its e-mail template")
        for r in step.notifications
        for key in missing_keys(r)
    ]
    if problems:
        raise TemplateContextError(problems)


def render(kind: NotificationKind, context: dict[str, Any]) -> tuple[str, str]:
    """Returns (subject, body). Raises TemplateContextError naming a missing key."""
    missing = [k for k in REQUIRED_CONTEXT[kind] if k not in context]
    try:
        if missing:
            raise jinja2.UndefinedError(f"{missing[0]!r} is undefined")
        module = _env.get_template(f"{kind.value}.txt.j2").make_module(context)
        subject = " ".join(str(vars(module)["subject"]).split())
        body = re.sub(r"\n{3,}", "\n\n", str(module).strip()) + "\n"
    except jinja2.UndefinedError as exc:
        key = re.search(r"'(\w+)'", str(exc))
        name = key.group(1) if key else "?"
        raise TemplateContextError(
            [(f"notifications.{kind.value}.context.{name}", f"required by the template ({exc})")]
        ) from exc
    except (ValueError, TypeError) as exc:
        raise TemplateContextError(
            [(f"notifications.{kind.value}.context", f"a value cannot be rendered: {exc}")]
        ) from exc
    return subject, body


message_id = notice_message_id


def render_sent_on(
    kind: NotificationKind, context: dict[str, Any], sent_on: date
) -> tuple[str, str]:
    """The message as sent on `sent_on`: the dates that run from receipt are computed here."""
    return render(kind, {**context, **dated_by_sending(kind, context, sent_on)})


async def enqueue(conn: Conn, settings: Settings, step: StepInput) -> None:
    """Renders the step's e-mails into the outbox (inside the step's transaction)."""
    facts = await applications.mail_facts(conn, step.dossier)
    if facts is None:
        raise NotFound(f"dossier {step.dossier} does not exist")
    n = settings.notifications
    addresses = {
        Recipient.PROVIDER: str(facts["contact_email"]),
        Recipient.BEC: n.bec_address,
        Recipient.DEPARTMENT: n.department_address,
    }
    base = {
        **facts,
        "contact_address": n.contact_address,
        "bec_address": n.bec_address,
        "department_address": n.department_address,
    }
    # Rendered now to refuse a missing key before anything is written; rendered again,
    # dated, when it is sent.
    provisional_day = deadlines.brussels_day(step.at)
    for request in step.notifications:
        context = {**base, **request.context}
        if "document_id" in context:
            # The appeal's acknowledgment quotes the document it received, by name and hash.
            found = await documents.named(conn, str(context["document_id"]))
            if found is not None:
                context["document_name"] = found.name
                context["document_sha256"] = found.sha256
        if request.kind == K.ACKNOWLEDGMENT and step.late_submission_warning is not None:
            context.setdefault("late_warning", step.late_submission_warning)
        subject, body = render_sent_on(request.kind, context, provisional_day)
        await outbox.add(
            conn,
            dossier=step.dossier,
            step=step.step,
            kind=request.kind.value,
            recipient=request.to.value,
            to_address=addresses[request.to],
            subject=subject,
            body=body,
            message_id=message_id(step.dossier, request.kind, step.step, request.to),
            context=to_jsonable_python(context),
        )


# ---- SMTP ----


class _NotAccepted(Exception):
    """The server does not have the message; sending again later is safe."""


class _Rejected(Exception):
    """The server refused the message for good (5xx)."""


class _Uncertain(Exception):
    """The server may have the message; sending again could duplicate it."""


def _code_error(stage: str, code: int, reply: bytes) -> Exception:
    text = f"{stage}: {code} {reply.decode(errors='replace')}"
    return _Rejected(text) if code >= 500 else _NotAccepted(text)


def _connect(cfg: SmtpSettings) -> smtplib.SMTP:
    try:
        client = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds)
    except OSError as exc:
        raise _NotAccepted(f"cannot connect to SMTP {cfg.host}:{cfg.port}: {exc}") from exc
    try:
        client.ehlo_or_helo_if_needed()
        if cfg.starttls:
            client.starttls()
            client.ehlo()
        if cfg.username:
            client.login(cfg.username, cfg.password or "")
    except (smtplib.SMTPException, OSError) as exc:
        client.close()
        raise _NotAccepted(f"SMTP failed before DATA: {exc}") from exc
    return client


def _transact(client: smtplib.SMTP, cfg: SmtpSettings, to: str, data: bytes) -> None:
    try:
        code, reply = client.mail(cfg.sender)
        if code != 250:
            raise _code_error("MAIL FROM", code, reply)
        code, reply = client.rcpt(to)
        if code not in (250, 251):
            raise _code_error("RCPT TO", code, reply)
        code, reply = client.docmd("DATA")
        if code != 354:
            raise _code_error("DATA", code, reply)
    except (smtplib.SMTPException, OSError) as exc:
        raise _NotAccepted(f"SMTP failed before DATA: {exc}") from exc
    # From here on the server may end up with the message whatever we see.
    stuffed = re.sub(rb"(?m)^\.", b"..", data)
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    try:
        client.send(stuffed + b".\r\n")
        code, reply = client.getreply()
    except (smtplib.SMTPException, OSError) as exc:
        raise _Uncertain(f"SMTP failed after DATA: {exc}") from exc
    if code != 250:
        raise _code_error("end of DATA", code, reply)


class SmtpSession:
    """One SMTP connection for several messages in turn (a screening sends thousands; a
    connection each cost more than the messages). Between messages the transaction is reset
    (RSET); a connection the server dropped meanwhile is replaced before MAIL FROM, where
    nothing was handed over yet. After any failure the connection is dropped. Used by one
    task at a time; its methods block (run them in a thread)."""

    def __init__(self, cfg: SmtpSettings) -> None:
        self._cfg = cfg
        self._client: smtplib.SMTP | None = None

    def send(self, to: str, data: bytes) -> None:
        client = self._ready()
        try:
            _transact(client, self._cfg, to, data)
        except Exception:
            self.close()
            raise

    def _ready(self) -> smtplib.SMTP:
        if self._client is not None:
            try:
                code, _ = self._client.rset()
                if code == 250:
                    return self._client
            except (smtplib.SMTPException, OSError):
                pass
            self.close()
        self._client = _connect(self._cfg)
        return self._client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def _build(settings: Settings, msg: outbox.OutboxMessage) -> bytes:
    email = EmailMessage()
    email["From"] = settings.smtp.sender
    email["To"] = msg.to_address
    email["Subject"] = msg.subject
    email["Message-ID"] = msg.message_id
    email["Date"] = format_datetime(datetime.now(BRUSSELS))
    email["X-ODB-Dossier"] = msg.dossier
    email.set_content(msg.body, charset="utf-8")
    return email.as_bytes(policy=SMTP_POLICY)


class NoticeRejected(Exception):
    """The SMTP server refused the message for good; ops resend it once fixed."""


class NoticeBusy(Exception):
    """Another claimant holds the message (its lease runs); try again later."""


class Clock:
    """The moment a message is accepted, on the Temporal server's clock inside an activity
    (the case computes its appeal window from it, and the test server skips time), else the
    machine's clock."""

    def __init__(self) -> None:
        self._origin: datetime | None = None
        self._t0 = time.monotonic()
        if activity.in_activity():
            self._origin = activity.info().started_time

    def now(self) -> datetime:
        if self._origin is None:
            return datetime.now(UTC)
        return self._origin + timedelta(seconds=time.monotonic() - self._t0)


def claimant() -> str:
    """Who claims: the activity (stable across its retries, so a retry takes its own claim
    back at once), else this process."""
    if activity.in_activity():
        info = activity.info()
        return f"{info.workflow_id}/{info.activity_id}"
    return f"process-{os.getpid()}"


async def send_one(
    pool: asyncpg.Pool[Any],
    settings: Settings,
    message_id: str,
    session: SmtpSession,
    *,
    who: str | None = None,
    clock: Clock | None = None,
) -> datetime:
    """Delivers one outbox message, then at once its correction if one is owed (see
    `_settle`); returns when the server accepted the message (the first acceptance, if it
    had been sent already). Raises NoticeRejected (for good), NoticeBusy or SmtpNotAccepted
    (try again later), NotFound. A correction not yet accepted raises too (SmtpNotAccepted,
    NoticeBusy): the caller's retry finds the message sent and sends the correction."""
    clock = clock or Clock()
    sent_at = await _send_message(pool, settings, message_id, session, who=who, clock=clock)
    correction = await outbox.open_correction(pool, message_id)
    if correction is not None:
        try:
            await _send_message(pool, settings, correction, session, who=who, clock=clock)
        except NoticeRejected:
            # Refused for good where the notice itself was just taken: kept as failed for
            # ops (`mail list`); the notice it corrects was delivered.
            log.error("notification.correction.rejected", message_id=correction)
    return sent_at


async def _send_message(
    pool: asyncpg.Pool[Any],
    settings: Settings,
    message_id: str,
    session: SmtpSession,
    *,
    who: str | None,
    clock: Clock,
) -> datetime:
    lease = timedelta(seconds=settings.notifications.claim_lease_seconds)
    claimed = await outbox.claim(pool, message_id, who or claimant(), lease)
    if claimed is None:
        raise NotFound(f"no e-mail {message_id} in the outbox")
    if isinstance(claimed, outbox.Settled):
        if claimed.status == "sent" and claimed.sent_at is not None:
            return claimed.sent_at
        if claimed.status == "failed":
            raise NoticeRejected(f"{message_id} was refused by SMTP: {claimed.last_error}")
        raise NoticeBusy(
            f"{message_id} is being sent by another worker (lease until {claimed.lease_until})"
        )
    msg = claimed
    bound = log.bind(dossier=msg.dossier, step=msg.step, kind=msg.kind, message_id=message_id)
    quoted_on: date | None = None
    if msg.context is not None:
        # Dated by the day of this attempt; a notice sent before (ops resend it) keeps the
        # dates of its first acceptance, the day the case counts from.
        quoted_on = deadlines.brussels_day(msg.sent_at or clock.now())
        subject, body = render_sent_on(NotificationKind(msg.kind), msg.context, quoted_on)
        await outbox.store_rendered(pool, msg.id, subject, body)
        msg = dataclasses.replace(msg, subject=subject, body=body)
    data = _build(settings, msg)
    try:
        await _heartbeating(asyncio.to_thread(session.send, msg.to_address, data))
    except _Rejected as exc:
        await outbox.fail(pool, msg.id, str(exc))
        bound.error("notification.rejected", error=str(exc))
        raise NoticeRejected(f"{message_id} was refused by SMTP: {exc}") from exc
    except _NotAccepted as exc:
        await outbox.release(pool, msg.id, str(exc))
        bound.warning("notification.deferred", error=str(exc))
        raise SmtpNotAccepted(f"{message_id}: {exc}") from exc
    except _Uncertain as exc:
        # We cannot tell: the next attempt sends it (same Message-ID), and the text of this
        # one may reach the recipient, so its day counts when a correction is weighed.
        await outbox.release(pool, msg.id, str(exc), handed_over=quoted_on)
        bound.warning("notification.deferred", error=str(exc))
        raise SmtpNotAccepted(f"{message_id}: {exc}") from exc
    sent_at = await _settle(pool, settings, msg, clock.now(), quoted_on)
    bound.info("notification.sent")
    return sent_at


async def _settle(
    pool: asyncpg.Pool[Any],
    settings: Settings,
    msg: outbox.OutboxMessage,
    accepted: datetime,
    quoted_on: date | None,
) -> datetime:
    """Records the acceptance and, in the same transaction, the correction it owes: the case
    counts from the Brussels day SMTP accepted the notice, and when a text the recipient
    may have read was dated from an earlier day with other dates (a reply after midnight, an
    uncertain attempt before a retry on a later day), a correction quoting the kept dates is
    queued with its own Message-ID. Nothing in between can lose it: a crash after this
    finds the notice sent and the correction queued (`open_correction`)."""
    async with pool.acquire() as conn, conn.transaction():
        recorded = await outbox.mark_sent(conn, msg.id, accepted, quoted_on)
        if recorded.quoted_on is None or msg.context is None:
            return recorded.sent_at
        kind = NotificationKind(msg.kind)
        kept_on = deadlines.brussels_day(recorded.sent_at)
        owed = notice_correction(kind, msg.context, recorded.quoted_on, kept_on)
        if owed is None:
            return recorded.sent_at
        context = {**msg.context, **owed, "corrects_subject": msg.subject}
        try:
            subject, body = render_sent_on(K.NOTICE_CORRECTED, context, kept_on)
        except TemplateContextError as exc:
            # A defect in our template must not undo the acceptance (the case counts from
            # it) nor send the notice again and again: said loudly, for a fix and a resend.
            log.error(
                "notification.correction.unrenderable",
                dossier=msg.dossier,
                message_id=msg.message_id,
                error=str(exc),
            )
            return recorded.sent_at
        recipient = Recipient(msg.recipient)
        await outbox.add(
            conn,
            dossier=msg.dossier,
            step=msg.step,
            kind=K.NOTICE_CORRECTED.value,
            recipient=recipient.value,
            to_address=msg.to_address,
            subject=subject,
            body=body,
            message_id=message_id(msg.dossier, K.NOTICE_CORRECTED, msg.step, recipient),
            context=to_jsonable_python(context),
        )
    log.warning(
        "notification.correction.queued",
        dossier=msg.dossier,
        message_id=msg.message_id,
        quoted_on=recorded.quoted_on.isoformat(),
        accepted_on=kept_on.isoformat(),
    )
    return recorded.sent_at


async def _heartbeating(work: Any) -> Any:
    """Awaits `work`, heartbeating inside an activity, so a worker killed mid-send is
    noticed after the heartbeat timeout rather than the whole start-to-close timeout."""
    task = asyncio.ensure_future(work)
    if not activity.in_activity():
        return await task
    while True:
        done, _ = await asyncio.wait({task}, timeout=2)
        if done:
            return task.result()
        activity.heartbeat()


class SmtpNotAccepted(Exception):
    """SMTP is down or did not take the message: kept in the outbox, sent later."""


@dataclass
class Delivery:
    sent: list[str] = field(default_factory=list)
    retry: list[str] = field(default_factory=list)  # not accepted, still pending


async def deliver(
    pool: asyncpg.Pool[Any],
    settings: Settings,
    dossier: str,
    session: SmtpSession | None = None,
    clock: Clock | None = None,
) -> Delivery:
    """Sends the dossier's unsent e-mails (see the module docstring), over `session` when
    given (its owner closes it), else over a connection of its own. `clock`: the activity's,
    made when it started (a page's later dossiers go out later: a clock made per dossier
    would date them all from the activity's start)."""
    if session is None:
        own = SmtpSession(settings.smtp)
        try:
            return await deliver(pool, settings, dossier, own, clock)
        finally:
            await asyncio.to_thread(own.close)
    result = Delivery()
    clock = clock or Clock()
    for mid in await outbox.open_for_dossier(pool, dossier):
        try:
            await send_one(pool, settings, mid, session, clock=clock)
        except (SmtpNotAccepted, NoticeBusy) as exc:
            result.retry.append(str(exc))
        except NoticeRejected:
            continue  # kept as failed for ops; not worth retrying
        else:
            result.sent.append(mid)
    return result


def raise_if_deferred(delivery: Delivery) -> None:
    if delivery.retry:
        raise ApplicationError(
            "e-mail not accepted by SMTP, kept in the outbox: " + "; ".join(delivery.retry),
            type="SmtpUnavailable",
            non_retryable=False,
        )


class NotificationActivities:
    """Delivers one queued notice: the durable work a case starts for each e-mail it queues."""

    def __init__(self, pool: asyncpg.Pool[Any], settings: Settings) -> None:
        self._pool = pool
        self._settings = settings

    @activity.defn(name="notifications.send")
    async def send(self, inp: SendNoticeInput) -> NoticeSent:
        session = SmtpSession(self._settings.smtp)
        try:
            sent_at = await send_one(self._pool, self._settings, inp.message_id, session)
        except NoticeRejected as exc:
            raise ApplicationError(str(exc), type="NoticeRejected", non_retryable=True) from exc
        except NotFound as exc:
            raise ApplicationError(exc.message, type="NotFound", non_retryable=True) from exc
        except (SmtpNotAccepted, NoticeBusy) as exc:
            raise ApplicationError(str(exc), type="SmtpUnavailable") from exc
        finally:
            await asyncio.to_thread(session.close)
        return NoticeSent(message_id=inp.message_id, sent_at=sent_at)
