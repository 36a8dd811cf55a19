"""The one table of decisions (starter/decisions.py) matches the case workflow, and the API and
the CLI are built from it."""

from __future__ import annotations

from typing import Any

from temporalio.workflow import _Definition

from starter.api.app import create_app
from starter.cli.main import build_parser
from starter.decisions import DECISIONS
from tests.fixtures.api import Api
from workflows.application import ApplicationWorkflow

workflow_definition = _Definition.must_from_class


def _workflow_updates() -> set[str]:
    definition = workflow_definition(ApplicationWorkflow)
    return {name for name in definition.updates if name is not None}


def test_every_update_has_exactly_one_row_and_every_row_an_update() -> None:
    rows = [d.update for d in DECISIONS]
    assert len(rows) == len(set(rows)), "an update has two rows"
    assert set(rows) == _workflow_updates()
    assert len({d.route for d in DECISIONS}) == len(DECISIONS)
    assert len({d.verb for d in DECISIONS}) == len(DECISIONS)


def test_the_api_has_a_route_per_row(api: Api) -> None:
    paths: dict[str, Any] = create_app(api.settings).openapi()["paths"]
    for d in DECISIONS:
        route = paths[f"/dossiers/{{dossier}}/{d.route}"]["post"]
        assert route["summary"] == d.summary


def test_the_cli_has_a_verb_per_row() -> None:
    parser = build_parser()
    for d in DECISIONS:
        args = parser.parse_args([d.verb, "ODB-2027-000001", *_required(d.verb)])
        assert args.dossier == "ODB-2027-000001"


def _required(verb: str) -> list[str]:
    return {
        "decide": ["--approve"],
        "appeal": ["--motivation", "Beroep tegen de weigering."],
        "hearing": ["--side", "provider"],
        "register-appeal": [
            "--received-at",
            "2027-03-31T23:40+02:00",
            "--motivation",
            "Beroep per e-mail ontvangen.",
        ],
        "bec-decide": ["--grant", "--reason", "Gegrond na hoorzitting."],
        "revoke": ["--reason", "Voldoet niet meer."],
        "receipt-date": [
            "--deadline",
            "appeal_window",
            "--received-on",
            "2027-03-01",
            "--reason",
            "Later ontvangen.",
        ],
    }.get(verb, [])
