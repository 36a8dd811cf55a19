"""E-mails: Dutch templates rendered into the outbox, then sent through SMTP at most once.

THE GUARANTEE (at most once, recorded):
- A step's e-mails are rendered and written to the outbox in the same transaction as the
  step itself, so they exist exactly once, with a stable Message-ID per
  (dossier, kind, step[, recipient]).
- Before talking to SMTP a message is marked 'sending' in its own committed statement; only
  a 'pending' message can be claimed, so no retry, second worker or replay sends it again.
- Failure before the server accepted DATA (connection refused, timeout, 4xx/5xx to MAIL,
  RCPT or DATA): the server does not have it -> back to 'pending' and the activity raises a
  retryable error; it goes out, once, when SMTP is back. A definite 5xx rejection of the
  message -> 'failed' (not retried).
- Failure after the message body was handed over but before the server's reply, or a
  worker that dies mid-send: the server may have it -> 'uncertain' (or left 'sending') and
  NOT resent; logged as `notification.uncertain` for ops (`registry.notifications.stuck`).
  A duplicate is worse than a lost mail here: the record shows which ones to check.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import jinja2
import structlog
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.dutch import dutch_date
from models.steps import NotificationKind, NotificationRequest, Recipient, StepInput
from registry import applications
from registry import notifications as outbox
from registry.db import Conn
from registry.errors import InvalidInput, NotFound
from runtime.settings import PROJECT_ROOT, Settings, SmtpSettings

K = NotificationKind
# Context keys the workflow must send per kind (dates as ISO strings). Every template also
# gets, from the registry: dossier, title, provider_name, start_date, competent_body,
# contact_address, bec_address, department_address. Optional keys are named in each
# template's header comment.
REQUIRED_CONTEXT: dict[NotificationKind, tuple[str, ...]] = {
    K.ACKNOWLEDGMENT: ("late_warning",),
    K.APPROVAL: ("registered_from",),
    K.REFUSAL: ("reason", "appeal_deadline"),
    K.WITHDRAWAL: (),
    K.APPEAL_RECEIVED: ("appeal_number", "decision_deadline"),
    K.BEC_DECISION: ("granted", "reason"),
    K.BEC_OVERDUE: ("appeal_number", "decision_deadline"),
    K.SCREENING_RESULT: (
        "year",
        "passed",
        "remarks",
    ),  # + removal_on, appeal_deadline if not passed
    K.REMOVAL: ("last_day",),
    K.STOP_CONFIRMATION: ("last_day",),
    K.REVOCATION: ("last_day", "reason"),
    K.FINAL_REFUSAL: (),
    K.DEADLINE_CORRECTED: ("deadline_kind", "last_day", "reason"),
}

TEMPLATES_DIR = PROJECT_ROOT / "templates"
MESSAGE_ID_DOMAIN = "opleidingsdatabank.vlaanderen.be"
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


def message_id(dossier: str, kind: NotificationKind, step: str, to: Recipient) -> str:
    local = f"{dossier}.{kind.value}.{step}"
    if to != Recipient.PROVIDER:
        local += f".{to.value}"
    return f"<{re.sub(r'[^A-Za-z0-9_.-]', '-', local)}@{MESSAGE_ID_DOMAIN}>"


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
    for request in step.notifications:
        context = {**base, **request.context}
        if request.kind == K.ACKNOWLEDGMENT and step.late_submission_warning is not None:
            context.setdefault("late_warning", step.late_submission_warning)
        subject, body = render(request.kind, context)
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
        client = smtplib.SMTP(cfg.host, cfg.port, timeout=30)
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


@dataclass
class Delivery:
    sent: list[str] = field(default_factory=list)
    retry: list[str] = field(default_factory=list)  # not accepted, still pending


async def deliver(
    pool: asyncpg.Pool[Any], settings: Settings, dossier: str, session: SmtpSession | None = None
) -> Delivery:
    """Sends the dossier's pending e-mails, each at most once (see the module docstring),
    over `session` when given (its owner closes it), else over a connection of its own."""
    if session is None:
        own = SmtpSession(settings.smtp)
        try:
            return await deliver(pool, settings, dossier, own)
        finally:
            await asyncio.to_thread(own.close)
    result = Delivery()
    for notification_id in await outbox.pending(pool, dossier):
        msg = await outbox.claim(pool, notification_id)
        if msg is None:
            continue
        bound = log.bind(dossier=dossier, message_id=msg.message_id, kind=msg.kind)
        try:
            await asyncio.to_thread(session.send, msg.to_address, _build(settings, msg))
        except _NotAccepted as exc:
            await outbox.mark(pool, msg.id, "pending", str(exc))
            bound.warning("notification.deferred", error=str(exc))
            result.retry.append(f"{msg.message_id}: {exc}")
        except _Rejected as exc:
            await outbox.mark(pool, msg.id, "failed", str(exc))
            bound.error("notification.rejected", error=str(exc))
        except _Uncertain as exc:
            await outbox.mark(pool, msg.id, "uncertain", str(exc))
            bound.error("notification.uncertain", error=str(exc), action="check the mail log")
        else:
            await outbox.mark(pool, msg.id, "sent")
            bound.info("notification.sent")
            result.sent.append(msg.message_id)
    return result


def raise_if_deferred(delivery: Delivery) -> None:
    if delivery.retry:
        raise ApplicationError(
            "e-mail not accepted by SMTP, kept in the outbox: " + "; ".join(delivery.retry),
            type="SmtpUnavailable",
            non_retryable=False,
        )


class DeliverInput(BaseModel):
    dossier: str


class NotificationActivities:
    """Sends what the outbox holds for a dossier (e.g. after SMTP was down)."""

    def __init__(self, pool: asyncpg.Pool[Any], settings: Settings) -> None:
        self._pool = pool
        self._settings = settings

    @activity.defn(name="notifications.deliver")
    async def deliver(self, inp: DeliverInput) -> list[str]:
        delivery = await deliver(self._pool, self._settings, inp.dossier)
        raise_if_deferred(delivery)
        return delivery.sent
