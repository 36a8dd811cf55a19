"""An ended case writes its archive file last, once its final e-mail is out (patch
`archive-on-end`): one self-contained ZIP that verifies against its manifest, written once.
Its history is kept for the replay test (`archived_on_end.json`)."""

from __future__ import annotations

import json
import zipfile

from activities.archives import ArchiveActivities, verify
from models.archive import ArchiveInput
from models.case import CaseStatus, EndReason, WithdrawInput
from tests.workflows.harness import PROVIDER, Cases, application, keep_history
from tests.workflows.test_lifecycle import a_day_from_now


async def test_an_ended_case_archives_itself_once_its_last_email_is_out(cases: Cases) -> None:
    handle = await cases.submit(application(await a_day_from_now(cases, 200)))
    await cases.service.update(handle.id, WithdrawInput(actor=PROVIDER))
    final: CaseStatus = await handle.result()
    assert final.end_reason == EndReason.WITHDRAWN
    row = await cases.pool.fetchrow(
        "SELECT path, sha256, parts FROM dossier_archives WHERE dossier = $1", handle.id
    )
    assert row is not None
    path = cases.settings.archive_path / row["path"]
    assert verify(path) == []
    with zipfile.ZipFile(path) as z:
        record = json.loads(z.read("dossier.json"))
        emails = [n for n in z.namelist() if n.startswith("emails/")]
    assert record["dossier"] == handle.id and record["ended_at"]
    assert [e["status"] for e in record["emails"]] == ["sent", "sent"]  # after the last one
    assert len(emails) == 2  # the acknowledgment and the withdrawal, as sent
    again = await ArchiveActivities(cases.pool, cases.settings).archive(
        ArchiveInput(dossier=handle.id)
    )
    assert (again.created, again.sha256) == (False, row["sha256"])
    await keep_history(handle, "archived_on_end")
