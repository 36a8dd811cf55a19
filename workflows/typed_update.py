"""`@workflow.update(description=...)`, typed as the bare `@workflow.update` is.

temporalio 1.35 types the decorator *with arguments* on an async method as an update
returning the coroutine instead of its result, so every typed client call
(`handle.execute_update(ApplicationWorkflow.review_decision, ...)`) would be typed as
returning a coroutine. At run time this is `workflow.update(description=...)` itself: the
same definition, name and result type (the SDK reads those from the method).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar, cast

from temporalio import workflow
from temporalio.workflow import UpdateMethodMultiParam

P = ParamSpec("P")
R = TypeVar("R")


def typed_update(
    *, description: str
) -> Callable[[Callable[P, Awaitable[R]]], UpdateMethodMultiParam[P, R]]:
    return cast(
        "Callable[[Callable[P, Awaitable[R]]], UpdateMethodMultiParam[P, R]]",
        workflow.update(description=description),
    )
