"""The retention table is data: a table that cannot be used stops the process that reads it,
naming the key; the shipped table is valid and keeps the register."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.retention import Action, Kind
from ops.__main__ import main as ops_main
from runtime.retention_table import load_table
from runtime.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = (ROOT / "retention.yaml").read_text(encoding="utf-8")

BAD = {
    "negative_period": (
        SHIPPED.replace("keep: {days: 90}", "keep: {days: -90}"),
        "kinds.deliveries.keep.days: must be 0 or more (got -90)",
    ),
    "unknown_kind": (
        SHIPPED.replace("  deliveries:", "  faxes:\n    what: x\n  deliveries:", 1),
        "kinds.faxes: unknown kind of record",
    ),
    "missing_kind": (
        SHIPPED.replace("  events:", "  events_old:", 1),
        "kinds.events: missing: every kind of record has a stated retention",
    ),
    "deleting_the_register": (
        SHIPPED.replace(
            "keep: {years: 10}\n    then: strip_personal\n    why: >-\n      The decisions",
            "keep: {years: 10}\n    then: delete\n    why: >-\n      The decisions",
        ),
        "kinds.dossier.then: delete is not allowed for dossier",
    ),
    "a_period_with_keep": (
        SHIPPED.replace("keep: forever\n    then: keep", "keep: {years: 3}\n    then: keep"),
        "kinds.screening_results: then: keep means kept for good",
    ),
    "a_wrong_moment": (
        SHIPPED.replace("after: appeal_decided", "after: case_ended"),
        "kinds.documents.after: documents are counted from appeal_decided",
    ),
}


def test_the_shipped_table_states_every_kind_and_keeps_the_register() -> None:
    table = load_table(ROOT / "retention.yaml")
    assert {k.value for k in Kind} == set(type(table.kinds).model_fields)
    assert table.rule(Kind.DOSSIER).then != Action.DELETE
    assert table.rule(Kind.AUDIT).then != Action.DELETE
    for kind in Kind:
        assert len(table.rule(kind).why) > 40, kind  # each period has its reason


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_table_stops_the_settings_naming_the_key(case: str, tmp_path: Path) -> None:
    text, named = BAD[case]
    path = tmp_path / "retention.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(retention={"table": str(path)})
    assert "retention.table" in str(refused.value) and named in str(refused.value)
    assert ops_main(["retention", "--check", str(path)]) == 2


def test_the_worker_refuses_to_start_with_a_negative_period(tmp_path: Path) -> None:
    path = tmp_path / "retention.yaml"
    path.write_text(BAD["negative_period"][0], encoding="utf-8")
    env = {**os.environ, "ODB_RETENTION__TABLE": str(path)}
    done = subprocess.run(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "the worker cannot start" in done.stderr
    assert "kinds.deliveries.keep.days: must be 0 or more" in done.stderr


def test_ops_refuses_a_purge_ahead_of_the_clock_and_a_hold_without_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert ops_main(["retention", "--run", "--as-of", "2999-01-01T00:00+00:00"]) == 2
    assert "never runs ahead of the clock" in capsys.readouterr().err
    assert ops_main(["retention", "--hold", "ODB-2027-000001"]) == 2
    assert "--hold needs --reason" in capsys.readouterr().err
    assert ops_main(["retention", "--hold", "ODB-27-1", "--reason", "rechtszaak"]) == 2
    assert "not a dossier number" in capsys.readouterr().err
