"""Reads in flight together, a few at a time: the day's checks wait on many small answers
(the API, the registry, the time-skipping server), each mostly a round trip."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def at_most(n: int, calls: Iterable[Awaitable[T]]) -> list[T]:
    """The calls' results in their order, no more than `n` of them in flight at once."""
    gate = asyncio.Semaphore(n)

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))
