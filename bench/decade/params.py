"""What the simulation plays: population, years, every rate, the faults. All parameters.

The defaults are the public figures of the first yearly screening (2021): about 4,915
trainings gave a right to VOV; 756 got a negative screening (15.4 %); 136 of those appealed
(18 %); 55 were reversed on appeal (40 %); 701 were removed from 1 January 2022 (the
negatives that were not reversed). What the page does not give (new submissions a year,
stops, refusals) is a plausible guess, named here and printed with every report.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any


class ParamError(ValueError):
    """A parameter that cannot be simulated, with the flag named."""


@dataclass(frozen=True)
class Rates:
    # New applications a year per 1,000 registered trainings (about 800 a year for the
    # whole register: as many as the screening removes, so it keeps its size).
    submissions_per_1000: float = 165.0
    # What the reviewer does with a new application (the rest is refused).
    approve: float = 0.80
    withdraw: float = 0.05
    # A refusal: appealed at all, by e-mail (else through the portal), granted by the BEC.
    refusal_appealed: float = 0.35
    appeal_by_email: float = 0.40
    refusal_appeal_granted: float = 0.40
    # A provider that does not appeal in time tries once after the window closed.
    late_appeal_attempt: float = 0.25
    # An appeal filed on the last day of its window, late in the evening (the edge).
    appeal_on_last_day: float = 0.20
    # The yearly screening (2021: 756 of 4,915 negative; 136 appealed; 55 reversed).
    negative: float = 756 / 4915
    incomplete_share: float = 0.15  # of the negatives: no activity report at all
    screening_appealed: float = 136 / 756
    screening_appeal_granted: float = 55 / 136
    # A negative training adjusted and submitted again, naming its predecessor.
    resubmitted: float = 0.05
    # Each year, of the registered trainings.
    stopped: float = 0.02
    revoked: float = 0.003
    # The BEC: a hearing waived; a decision after its 60 days (the case is flagged).
    hearing_waived: float = 0.15
    bec_late: float = 0.12

    def check(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "submissions_per_1000":
                if not 0 <= value <= 100_000:
                    raise ParamError(f"--{_flag(f.name)}: {value} is not between 0 and 100000")
            elif not 0.0 <= value <= 1.0:
                raise ParamError(f"--{_flag(f.name)}: {value} is not a rate between 0 and 1")
        if self.approve + self.withdraw > 1.0:
            raise ParamError("--approve plus --withdraw exceed 1 (the rest is refused)")


@dataclass(frozen=True)
class Faults:
    smtp_outages_per_year: float = 3.0
    smtp_outage_hours: tuple[float, float] = (1.0, 4.0)
    # Of the outages, the share that starts in the evening and runs past midnight.
    smtp_outage_over_midnight: float = 0.5
    worker_restarts_per_year: float = 3.0
    deploys_per_year: float = 1.0

    def check(self) -> None:
        for name in ("smtp_outages_per_year", "worker_restarts_per_year", "deploys_per_year"):
            value = getattr(self, name)
            if not 0 <= value <= 365:
                raise ParamError(f"--{_flag(name)}: {value} is not between 0 and 365")
        low, high = self.smtp_outage_hours
        if not 0 < low <= high <= 72:
            raise ParamError(
                f"--smtp-outage-hours: {low}..{high} must satisfy 0 < low <= high <= 72"
            )
        if not 0 <= self.smtp_outage_over_midnight <= 1:
            raise ParamError("--smtp-outage-over-midnight: not a rate between 0 and 1")


@dataclass(frozen=True)
class Params:
    trainings: int = 4900
    years: int = 10
    start_year: int = 2027
    seed: int = 1
    # Trainings per shard (each shard: its own time-skipping server and database). A
    # training costs more the more cases its server holds (measured, a year: 150 trainings
    # 17 s, 300 trainings 30 s, 1,225 trainings 280 s), and each shard has a fixed cost per
    # day (the day's checks): about 300 is the cheapest per training. The 4,900 make 17.
    shard_size: int = 300
    # Shards run at the same time (each is one Python process and one server). One shard
    # keeps a core about 80 % busy (it waits on its server and database the rest): three
    # keep the two cores of this machine busy.
    parallel: int = 3
    # Providers per 100 trainings (each provider offers several trainings).
    providers_per_100: float = 8.0
    # Cases drawn each simulated day, besides those that changed that day: whose workflow
    # state is compared with the registry (besides one changed case), whose history length
    # is read, whose as-of answer is compared with the day's open data.
    agree_sample: int = 1
    history_sample: int = 5
    as_of_sample: int = 3
    rates: Rates = field(default_factory=Rates)
    faults: Faults = field(default_factory=Faults)

    def check(self) -> None:
        if not 1 <= self.trainings <= 200_000:
            raise ParamError(f"--trainings: {self.trainings} is not between 1 and 200000")
        if not 1 <= self.years <= 40:
            raise ParamError(f"--years: {self.years} is not between 1 and 40")
        if not 2000 <= self.start_year <= 2060:
            raise ParamError(f"--start-year: {self.start_year} is not between 2000 and 2060")
        if self.start_year + self.years - 1 > 2074:
            raise ParamError("--start-year plus --years run past 2074 (no holiday calendar)")
        if not 1 <= self.shard_size <= 200_000:
            raise ParamError(f"--shard-size: {self.shard_size} is not between 1 and 200000")
        if not 1 <= self.parallel <= 8:
            raise ParamError(f"--parallel: {self.parallel} is not between 1 and 8")
        if not 0.1 <= self.providers_per_100 <= 100:
            raise ParamError("--providers-per-100: not between 0.1 and 100")
        for name in ("agree_sample", "history_sample", "as_of_sample"):
            value = getattr(self, name)
            if not 0 <= value <= 1000:
                raise ParamError(f"--{_flag(name)}: {value} is not between 0 and 1000")
        if not 0 <= self.seed < 2**63:
            raise ParamError(f"--seed: {self.seed} is not between 0 and 2**63 - 1")
        self.rates.check()
        self.faults.check()

    @property
    def shards(self) -> int:
        return math.ceil(self.trainings / self.shard_size)

    def shard_trainings(self) -> list[int]:
        """The initial population of each shard, as even as can be."""
        n, k = self.trainings, self.shards
        return [n // k + (1 if i < n % k else 0) for i in range(k)]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Params:
        rates = Rates(**data.pop("rates"))
        faults_data = data.pop("faults")
        faults_data["smtp_outage_hours"] = tuple(faults_data["smtp_outage_hours"])
        return cls(**data, rates=rates, faults=Faults(**faults_data))


def _flag(name: str) -> str:
    return name.replace("_", "-")
