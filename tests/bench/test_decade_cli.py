"""`python -m bench.decade` refuses what it cannot play before it starts anything, naming
the flag; the same seed plans the same decade (the faults and the population), another
seed another."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bench.decade.__main__ import main, params_of, parser
from bench.decade.params import Params


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--trainings", "0"], "--trainings"),
        (["--trainings", "many"], "--trainings"),
        (["--years", "0"], "--years"),
        (["--years", "41"], "--years"),
        (["--shard-size", "0"], "--shard-size"),
        (["--parallel", "0"], "--parallel"),
        (["--seed", "-1"], "--seed"),
        (["--negative", "1.5"], "--negative"),
        (["--approve", "0.9", "--withdraw", "0.2"], "--approve"),
        (["--smtp-outage-hours", "5", "1"], "--smtp-outage-hours"),
        (["--smtp-outage-hours", "0", "3"], "--smtp-outage-hours"),
        (["--worker-restarts-per-year", "-1"], "--worker-restarts-per-year"),
        (["--start-year", "2020"], "--start-year"),
        (["--start-year", "2070"], "--start-year"),
        (["--no-such-flag"], "--no-such-flag"),
        (["--run-shard", "0"], "--run-shard"),
        (["--as-of-sample", "-1"], "--as-of-sample"),
    ],
)
def test_a_parameter_it_cannot_play_is_refused_naming_the_flag(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--out", str(tmp_path / "out")])
    assert exited.value.code == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing started, nothing written


def test_the_defaults_are_the_real_register() -> None:
    params = params_of(parser().parse_args([]))
    params.check()
    assert params.trainings == 4900 and params.years == 10 and params.start_year == 2027
    assert round(params.rates.negative * 4915) == 756
    assert round(params.rates.screening_appealed * 756) == 136
    assert round(params.rates.screening_appeal_granted * 136) == 55
    assert params.shards == 17 and sum(params.shard_trainings()) == 4900


def test_a_seed_plans_the_same_decade_and_another_seed_another() -> None:
    from bench.decade.shard import plan_of

    year = date.today().year + 1
    one = plan_of(Params(trainings=200, years=3, start_year=year, seed=5, shard_size=100), 1)
    again = plan_of(Params(trainings=200, years=3, start_year=year, seed=5, shard_size=100), 1)
    other = plan_of(Params(trainings=200, years=3, start_year=year, seed=6, shard_size=100), 1)
    assert one == again
    assert one != other
    assert any("smtp down" in label for _, label in one)
    # Some of the registered trainings are planned to stop, or to be revoked.
    assert any(label.startswith("stop ") for _, label in one)
    assert any(label.startswith("revoke ") for _, label in one)
