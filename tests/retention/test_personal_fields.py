"""The declaration of personal fields is data checked against the shapes the registry
writes: a table, column, JSON path or event that does not exist stops every process at
start, naming it, so a typo never leaves a person's data in place (or strips a decision)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from models.personal import STEP_EVENTS
from ops.__main__ import main as ops_main
from rules.personal import audit_role, strip
from runtime.retention_table import load_personal
from runtime.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = (ROOT / "personal_fields.yaml").read_text(encoding="utf-8")

BAD = {
    "unknown_json_path": (
        SHIPPED.replace("path: status.history[].by", "path: status.history[].who"),
        "tables.case_rows.fields[6] (status.history[].who): unknown path: status.history "
        "has no key 'who'",
    ),
    "a_key_of_a_step_no_step_writes": (
        SHIPPED.replace("details.details.document_reference", "details.details.motive"),
        "unknown path: no step writes details.motive",
    ),
    "a_list_without_brackets": (
        SHIPPED.replace("path: status.appeals[].motivation", "path: status.appeals.motivation"),
        "status.appeals is a list: write appeals[]",
    ),
    "unknown_column": (
        SHIPPED.replace("      - path: note\n", "      - path: notes\n", 1),
        "tables.hearings.fields[1] (notes): unknown column 'notes'",
    ),
    "unknown_table": (
        SHIPPED.replace("  hearings:\n", "  hearing:\n", 1),
        "tables.hearing: unknown table",
    ),
    "unknown_event": (
        SHIPPED.replace("application.stopped]", "application.stoped]"),
        "unknown event 'application.stoped'",
    ),
    "the_wrong_kind": (
        SHIPPED.replace("  audit:\n    kind: audit", "  audit:\n    kind: dossier", 1),
        "tables.audit.kind: audit is stripped with kind audit, not dossier",
    ),
    "a_field_without_its_reason": (
        SHIPPED.replace("        why: the id of the user who took the step\n", "", 1),
        "why: missing",
    ),
    "a_treatment_that_does_not_exist": (
        SHIPPED.replace("        as: role\n", "        as: pseudonym\n", 1),
        "as: Input should be 'role', 'empty', 'null' or 'remove'",
    ),
}


def test_the_shipped_declaration_names_every_free_text_people_write() -> None:
    personal = load_personal(ROOT / "personal_fields.yaml")
    paths = {(t, f.path) for t in personal.tables for f in personal.fields(t)}
    for needed in (
        ("appeals", "motivation"),
        ("hearings", "note"),
        ("audit", "details.details.reason"),
        ("audit", "details.appeal.motivation"),
        ("audit", "details.row.status.appeals[].motivation"),
        ("notifications", "to_address"),
        ("notifications", "body"),
    ):
        assert needed in paths, needed
    # The decision and its reason stay: no declared path names them.
    assert not any(
        p.endswith(("decision.reason", "decision.body", "appeal.subject")) for _, p in paths
    )
    reasons = [f for f in personal.fields("audit") if f.path == "details.details.reason"]
    assert reasons and set(reasons[0].events) == {"application.withdrawn", "application.stopped"}


def test_every_step_the_workflows_record_is_a_known_event() -> None:
    text = "\n".join(p.read_text() for p in (ROOT / "workflows").glob("*.py"))
    recorded = set(re.findall(r'"(application\.[a-z_.]+)"', text))
    assert recorded <= set(STEP_EVENTS), recorded - set(STEP_EVENTS)


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_declaration_stops_the_settings_naming_the_path(case: str, tmp_path: Path) -> None:
    text, named = BAD[case]
    assert text != SHIPPED, "the case changes the shipped declaration"
    path = tmp_path / "personal_fields.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(retention={"personal_fields": str(path)})
    assert "retention.personal_fields" in str(refused.value)
    assert named in str(refused.value), str(refused.value)
    assert ops_main(["retention", "--check", str(path)]) == 2


def test_the_worker_refuses_to_start_with_an_unknown_json_path(tmp_path: Path) -> None:
    path = tmp_path / "personal_fields.yaml"
    path.write_text(BAD["unknown_json_path"][0], encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env={**os.environ, "ODB_RETENTION__PERSONAL_FIELDS": str(path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "the worker cannot start" in done.stderr
    assert "status.history[].who" in done.stderr


ACTOR: dict[str, Any] = {"subject": "user-7", "organisation": None, "roles": [{"kind": "bec"}]}


def _audit_row(details: dict[str, Any]) -> dict[str, Any]:
    return {"actor": "user-7", "actor_detail": ACTOR, "details": details}


def test_the_strip_changes_only_declared_paths_and_a_second_strip_changes_nothing() -> None:
    personal = load_personal(ROOT / "personal_fields.yaml")
    fields = personal.fields("audit")
    details: dict[str, Any] = {
        "appeal": {"subject": "refusal", "filed_by": "user-7", "motivation": "Jan schrijft"},
        "decision": {"body": "BEC", "reason": "Nieuwe feiten", "decided_by": "user-7"},
        "notifications": [{"kind": "bec_decision", "context": {"reason": "Nieuwe feiten"}}],
        "details": {"reason": "door Jan Janssens"},
    }
    role = audit_role("user-7", ACTOR)
    for event, reason in (
        ("application.withdrawn", ""),
        ("application.revoked", "door Jan Janssens"),
    ):
        once = strip(fields, _audit_row(details), event=event, role=role)
        kept = once["details"]
        assert once["actor"] == "BEC" and once["actor_detail"]["roles"] == [{"kind": "bec"}]
        assert kept["appeal"] == {"subject": "refusal", "filed_by": "BEC", "motivation": ""}
        assert kept["decision"] == {"body": "BEC", "reason": "Nieuwe feiten", "decided_by": "BEC"}
        assert kept["notifications"] == details["notifications"]
        assert kept["details"] == {"reason": reason}
        assert strip(fields, once, event=event, role=role) == once


def test_the_repair_refuses_what_it_does_not_take(capsys: pytest.CaptureFixture[str]) -> None:
    assert ops_main(["retention", "repair", "--run"]) == 2
    assert "repair takes --dry-run and --dossier only" in capsys.readouterr().err
    assert ops_main(["retention", "repair", "--dossier", "ODB-27-1"]) == 2
    assert "not a dossier number" in capsys.readouterr().err
    assert ops_main(["retention", "--dry-run", "--dossier", "ODB-2027-000001"]) == 2
    assert "--dossier is for repair" in capsys.readouterr().err
