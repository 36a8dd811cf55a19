"""Each figure's meaning is written once (models/report.py) and docs/reports.md says the
same: a figure added, renamed or redefined without its sentence in the docs fails here."""

from __future__ import annotations

import re

from models.report import BodyFigures
from runtime.settings import PROJECT_ROOT


def test_the_docs_give_every_figure_the_meaning_the_contract_gives_it() -> None:
    doc = (PROJECT_ROOT / "docs" / "reports.md").read_text()
    documented = dict(re.findall(r"^\| `([a-z_0-9]+)` \| (.+) \|$", doc, re.MULTILINE))
    assert documented == {
        name: field.description for name, field in BodyFigures.model_fields.items()
    }
    assert all(field.description for field in BodyFigures.model_fields.values())
