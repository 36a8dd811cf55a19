"""The rubric is data: the shipped example loads, and each kind of mistake is refused with
the key and the rule named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from activities.rubric_loader import load_rubric
from models.rubric import RubricError, parse_rubric
from runtime.settings import PROJECT_ROOT, load_settings

EXAMPLE = PROJECT_ROOT / "rubrics" / "example-2027.yaml"


def example() -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def refusal(data: object) -> str:
    with pytest.raises(RubricError) as caught:
        parse_rubric(data, "rubric.yaml")
    return str(caught.value)


def test_the_shipped_rubric_is_the_configured_one_and_valid() -> None:
    settings = load_settings()
    rubric = load_rubric(settings.resolve(settings.screening.rubric))
    assert rubric.version == "2027.1"
    assert sum(c.weight for c in rubric.criteria) == 100
    assert {c.measure.value for c in rubric.criteria} == {
        "sessions_past_year",
        "participants_past_year",
        "completion_rate",
        "occupations_in_demand",
        "recognised_certification",
    }


def test_unknown_measure_is_named_with_the_known_ones() -> None:
    data = example()
    data["criteria"][1]["measure"] = "participnts"
    message = refusal(data)
    assert "criteria[1] (participants).measure: unknown measure 'participnts'" in message
    assert "participants_past_year" in message


def test_weights_that_do_not_add_up_are_refused_with_the_sum() -> None:
    data = example()
    data["criteria"][0]["weight"] = 35
    assert "weights add up to 105" in refusal(data)
    assert "must add up to 100" in refusal(data)


def test_missing_threshold_is_refused() -> None:
    data = example()
    del data["pass_threshold"]
    assert "pass_threshold: missing" in refusal(data)


def test_other_mistakes_are_each_named() -> None:
    data = example()
    data["criteria"][2]["scoring"] = {"rule": "linear", "zero_at": 0.9, "full_at": 0.4}
    data["criteria"][3]["scoring"] = {"rule": "steps"}
    data["criteria"][4]["id"] = "organised"
    data["criteria"][0]["wieght"] = 30
    message = refusal(data)
    assert "criteria[2] (completion).scoring: full_at (0.4) must be greater than zero_at" in message
    assert "criteria[3] (occupations_in_demand).scoring: scoring.rule must be" in message
    assert "criteria[0] (organised).wieght: unknown key" in message
    data = example()
    data["criteria"][4]["id"] = "organised"
    assert "id 'organised' is used twice" in refusal(data)
    assert "a rubric is a mapping" in refusal(["not", "a", "mapping"])


def test_a_file_that_is_not_yaml_or_not_there_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: [unclosed\n", encoding="utf-8")
    with pytest.raises(RubricError, match="not valid YAML"):
        load_rubric(bad)
    with pytest.raises(RubricError, match="cannot read the rubric file"):
        load_rubric(tmp_path / "missing.yaml")
