"""Recorded histories of every lifecycle path replay against the current workflow code, so a
change that would break a running case fails CI. `v1-*.json` were recorded before the
`local-registry-steps` patch (steps as ordinary activities), `v2-*.json` before the
`publish-changed-search-attributes` patch and the spread continue-as-new after a screening,
`v3-*.json` before the `notices-apart-<step>` patches (e-mails sent inside the step, the
refusal's window from the decision day): cases that old still run, so their histories stay.
`own_organisation_decided_before_conflict_rule.json` was recorded before the
conflict-of-interest rule covered the BEC and the department: people of the provider's own
organisation heard, granted and revoked; a case's handler must not refuse it on replay.
After a deliberate, patched change, keep the old files (renamed) and record the new ones:
ODB_RECORD_HISTORIES=1 .venv/bin/pytest tests/workflows/test_lifecycle.py"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.application import ApplicationWorkflow

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*.json"))


def test_every_lifecycle_path_has_a_recorded_history() -> None:
    names = {p.stem for p in HISTORIES}
    assert {
        "approved",
        "refused_final",
        "appeal_granted",
        "appeal_rejected",
        "bec_overdue",
        "screening_removal",
        "screening_appeal_granted",
        "stopped_revoked",
        "withdrawn",
        "corrected_window",
        "screening_fresh_run",
        "refusal_notice_delayed",
        "refusal_notice_rejected_resent",
        "refusal_notice_corrected",
        "appeal_by_email",
        "resubmission_takes_over",
        "replaced_by_resubmission",
        "archived_on_end",
        "own_organisation_decided_before_conflict_rule",
    } <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    data = json.loads(path.read_text())
    history = WorkflowHistory.from_json(data["workflow_id"], data["history"])
    await Replayer(
        workflows=[ApplicationWorkflow], data_converter=pydantic_data_converter
    ).replay_workflow(history)
