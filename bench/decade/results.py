"""What a shard hands back: violations, figures per simulated year, where the time went."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Violation:
    day: str  # the simulated day (Brussels) it concerns
    invariant: str
    dossier: str
    detail: str
    shard: int = 0

    def line(self) -> str:
        where = f"s{self.shard}/{self.dossier}" if self.dossier else f"s{self.shard}"
        return f"{self.day}  {self.invariant:<22} {where:<22} {self.detail}"


@dataclass
class YearStats:
    year: int
    counts: Counter[str] = field(default_factory=Counter)
    registered_by_day: list[int] = field(default_factory=list)  # one per day of the year
    wall_seconds: float = 0.0
    wall: dict[str, float] = field(default_factory=dict)  # where the time went
    largest_history: int = 0
    largest_history_of: str = ""
    # The system's report of the year (GET /reports/{year}) as compared: body -> figures.
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The simulation's bounds of the figures it cannot know exactly (the notices), as
    # compared: body -> figure -> [lowest, highest].
    bounds: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["counts"] = dict(self.counts)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> YearStats:
        data = dict(data)
        data["counts"] = Counter(data["counts"])
        return cls(**data)


@dataclass
class ShardResult:
    shard: int
    trainings: int
    years: list[YearStats] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    violations_total: int = 0
    wall_seconds: float = 0.0
    seed_seconds: float = 0.0
    peak_rss_python: int = 0
    peak_rss_server: int = 0
    largest_history: int = 0
    largest_history_of: str = ""
    digest: str = ""
    events: int = 0
    api_calls: int = 0
    jumps: int = 0

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["years"] = [y.to_json() for y in self.years]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShardResult:
        data = dict(data)
        data["years"] = [YearStats.from_json(y) for y in data["years"]]
        data["violations"] = [Violation(**v) for v in data["violations"]]
        return cls(**data)
