"""The simulation's own account of every dossier: what it did, and what it therefore expects
the system to show (state, end reason, registered days, open windows and appeals).

Everything here follows from the simulation's actions and the oracle (bench/decade/oracle.py),
never from the system's code. A transition the system makes by itself (a deadline passing,
a removal) is expected within a window of time (`Pending`): before it, the old state must
show; after it, the new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

UNDER_REVIEW = "under_review"
REFUSED = "refused"
IN_APPEAL = "in_appeal"
REGISTERED = "registered"
REMOVAL_SCHEDULED = "removal_scheduled"
ENDED = "ended"
LIVE_REGISTERED = (REGISTERED, REMOVAL_SCHEDULED)


@dataclass
class Pending:
    """A transition the system owes by itself, within [not_before, not_after]."""

    state: str
    end_reason: str | None
    not_before: datetime
    not_after: datetime
    what: str
    # Applied to the dossier when the registry shows it (e.g. the removal closes a period).
    end: date | None = None
    reported: bool = False  # late, and said so once


@dataclass
class Window:
    """An open appeal window as the oracle computes it."""

    subject: str  # refusal | screening
    notice_on: date | None  # the day the notice went out (None: not yet sent)
    last_day: date | None


@dataclass
class Appeal:
    number: int
    subject: str
    received_on: date
    bec_last_day: date
    route: str
    decided_on: date | None = None
    granted: bool | None = None
    # The day from which the case must show it overdue (the oracle's last day + 1), or None.
    overdue_from: date | None = None
    flag_seen: bool = False


@dataclass
class Dossier:
    number: str
    training: int  # one training: a dossier and its resubmissions
    provider: str
    body: str
    submitted_at: datetime
    predecessor: str | None = None
    successor: str | None = None
    state: str = UNDER_REVIEW
    end_reason: str | None = None
    start: date | None = None  # first registered day
    end: date | None = None  # last registered day, once known
    removal_on: date | None = None  # planned removal after a negative screening
    chain_start: date | None = None  # where the training's registration history starts
    window: Window | None = None
    appeals: list[Appeal] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    negative_years: list[int] = field(default_factory=list)
    # What the department's figures count (bench/decade/figures.py), as the simulation did it.
    reviewed_on: date | None = None
    review: str | None = None  # approved | refused
    withdrawn_on: date | None = None
    refusal_last_day: date | None = None  # the refusal's appeal window, once its notice is out
    screenings: dict[int, str] = field(default_factory=dict)  # year -> passed/failed/incomplete

    @property
    def open_appeal(self) -> Appeal | None:
        return next((a for a in self.appeals if a.decided_on is None), None)

    def registered_on(self, day: date) -> bool:
        if self.start is None or day < self.start:
            return False
        if self.end is not None and day > self.end:
            return False
        return not (self.removal_on is not None and day > self.removal_on)

    @property
    def live_registered(self) -> bool:
        # Registered, or registered with its removal scheduled: the registration runs. (It
        # once also asked `pending is None`, never true of a list: no training was ever
        # planned to stop or be revoked.)
        return self.state in LIVE_REGISTERED


@dataclass(frozen=True)
class Notice:
    """A notice the simulation made the system queue, and when: a step of its own (an
    action, between the moment it asked and the answer) or a transition the system owes
    by itself (within that transition's window)."""

    dossier: str
    body: str
    kind: str
    queued_from: datetime
    queued_until: datetime
    copies: int = 1  # e-mails of one step (the overdue alert: the BEC and the department)


@dataclass
class World:
    dossiers: dict[str, Dossier] = field(default_factory=dict)
    trainings: dict[int, list[str]] = field(default_factory=dict)  # training -> its dossiers
    next_training: int = 0
    # What the department's figures of notices are bounded by (bench/decade/figures.py):
    # every notice expected, every SMTP outage [down, up), every worker stop (a restart or
    # a deploy), as planned and played.
    notices: list[Notice] = field(default_factory=list)
    outages: list[tuple[datetime, datetime]] = field(default_factory=list)
    worker_stops: list[datetime] = field(default_factory=list)

    def add(self, d: Dossier) -> Dossier:
        self.dossiers[d.number] = d
        self.trainings.setdefault(d.training, []).append(d.number)
        self.next_training = max(self.next_training, d.training + 1)
        return d

    def new_training(self) -> int:
        t = self.next_training
        self.next_training += 1
        return t

    def registered_on(self, day: date) -> set[str]:
        return {n for n, d in self.dossiers.items() if d.start is not None and d.registered_on(day)}

    def registered(self) -> list[Dossier]:
        return [d for d in self.dossiers.values() if d.live_registered]
