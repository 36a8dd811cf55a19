"""Time on the time-skipping server, driven explicitly.

Skipping is off (`auto_time_skipping_disabled`): the server's clock runs at the pace of the
wall clock, and jumps only when told (`advance_to`). A jump fires every timer on the way
and lets the worker finish what each one started before going further. Measured here:
- a jump whose work takes more than a minute fails with "Timeout expired" (the client's
  default deadline for the call), so the call gets its own long deadline;
- a long jump while an activity retries every 10 s (an SMTP outage) failed with an HTTP/2
  protocol error; jumps of 30 minutes did not, so such stretches go in 30-minute steps.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import temporalio.api.testservice.v1 as testservice
from temporalio.testing import WorkflowEnvironment

SLEEP_DEADLINE = timedelta(minutes=30)
FINE_STEP = timedelta(minutes=30)


class SimClock:
    def __init__(self, env: WorkflowEnvironment) -> None:
        self.env = env
        self._server: datetime | None = None
        self._mono = 0.0
        self.jumps = 0
        self.jump_seconds = 0.0  # wall time spent inside jumps (the work they released)
        self.slow: list[tuple[datetime, timedelta, float]] = []
        self.all: list[tuple[datetime, timedelta, float]] = []

    async def sync(self) -> datetime:
        self._server = await self.env.get_current_time()
        self._mono = time.monotonic()
        return self._server

    def now(self) -> datetime:
        """The server's time without asking it: the last reading plus the wall time since
        (the server's clock runs in real time between jumps)."""
        assert self._server is not None, "SimClock.sync() first"
        return self._server + timedelta(seconds=time.monotonic() - self._mono)

    async def advance_to(self, instant: datetime, *, fine: bool = False) -> None:
        """Jumps to `instant` (nothing when it has passed); in 30-minute steps when `fine`."""
        while True:
            now = await self.sync()
            step = instant - now
            if step <= timedelta(0):
                return
            if fine and step > FINE_STEP:
                step = FINE_STEP
            request = testservice.SleepRequest()
            request.duration.FromTimedelta(step)
            t0 = time.monotonic()
            await self.env.client.test_service.unlock_time_skipping_with_sleep(
                request, timeout=SLEEP_DEADLINE
            )
            self.jumps += 1
            took = time.monotonic() - t0
            self.jump_seconds += took
            self.all.append((now, step, took))
            if took > 0.5:
                self.slow.append((now, step, took))
