"""`python -m starter mail list|resend`: the e-mail outbox for ops.

`list` shows every e-mail not yet sent (pending, being sent, refused for good), oldest first,
with its attempts and last error; it exits 1 when any is older than `--older-than` minutes,
so it can serve as a check. `resend MESSAGE-ID` puts one e-mail back in the queue (sent or
not: it goes out again with the same Message-ID), tells its case (a case waiting on a
refused notice starts delivering it again) and sends it at once when nobody else is. An
e-mail whose address and text retention removed is refused by name, never queued.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

from temporalio.service import RPCError

from activities import notifications as mail
from registry import notifications as outbox
from starter.cli.cases import service
from starter.cli.main import dump, out


def register(sub: Any) -> None:
    parser = sub.add_parser("mail", help="the e-mail outbox: list unsent, resend one")
    actions = parser.add_subparsers(dest="mail_command", required=True)
    listing = actions.add_parser("list", help="e-mails not yet sent, oldest first")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument(
        "--older-than",
        type=float,
        default=10,
        help="exit 1 when an unsent e-mail is older than this many minutes (default 10)",
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of lines")
    listing.set_defaults(run=_list)
    resend = actions.add_parser("resend", help="send one e-mail again (same Message-ID)")
    resend.add_argument("message_id", help="as listed, e.g. <ODB-2027-000001.refusal.review@…>")
    resend.set_defaults(run=_resend)


async def _list(args: argparse.Namespace) -> int:
    async with service() as svc:
        pool = await svc.pool()
        unsent = await outbox.unsent(pool, args.limit)
    if args.json:
        dump([n.model_dump(mode="json") for n in unsent])
    elif not unsent:
        out("no e-mail waiting: every queued e-mail was sent")
    now = datetime.now(UTC)
    late = False
    for n in unsent:
        age = (now - n.created_at).total_seconds() / 60
        late = late or (n.status != "failed" and age > args.older_than)
        if not args.json:
            error = f" — {n.last_error}" if n.last_error else ""
            out(
                f"{n.status:8} {age:7.1f} min  {n.attempts:3} tries  {n.message_id}  "
                f"to {n.to_address}{error}"
            )
    failed = any(n.status == "failed" for n in unsent)
    return 1 if late or failed else 0


async def _resend(args: argparse.Namespace) -> int:
    message_id = args.message_id.strip()
    if not message_id.startswith("<"):
        message_id = f"<{message_id}>"
    async with service() as svc:
        pool = await svc.pool()
        record = await outbox.requeue(pool, message_id)
        if record is None:
            kept = await outbox.by_message_id(pool, message_id)
            if kept is None:
                out(f"no e-mail {message_id} in the outbox: copy the Message-ID from `mail list`")
            else:
                sent = kept.sent_at.isoformat() if kept.sent_at else "never"
                out(
                    f"{message_id} cannot be sent again: its address and text were removed "
                    "under the retention rule `emails` (retention.yaml); it stays on record "
                    f"as {kept.status} (sent: {sent}). What it said is in the dossier "
                    f"{kept.dossier}'s archive; write to the provider's current address."
                )
            return 2
        # A case waiting on this notice (refused by the mail server) delivers it again, and
        # starts a refusal's appeal window from the day it goes out.
        if record.dossier is not None:
            client = await svc.client()
            # RPCError: the case has ended; nobody else will send it, so we do below.
            with contextlib.suppress(RPCError):
                await client.get_workflow_handle(record.dossier).signal("retry_notice", message_id)
        session = mail.SmtpSession(svc.settings.smtp)
        try:
            sent_at = await mail.send_one(pool, svc.settings, message_id, session)
        except mail.NoticeBusy:
            out(f"{message_id} is being sent by its case now")
            return 0
        except (mail.SmtpNotAccepted, mail.NoticeRejected) as exc:
            out(f"{message_id} queued again; SMTP did not take it now ({exc}): its case retries")
            return 1
        finally:
            await asyncio.to_thread(session.close)
    out(f"{message_id} sent at {sent_at.isoformat()}")
    return 0
