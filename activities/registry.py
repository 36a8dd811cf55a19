"""Registry activities: record what the case workflow decided, once, and send its e-mails.

`record_step` is idempotent on (dossier, step): the step, its audit row and its outbox rows
are one transaction; a retry after a crash or timeout finds the step and writes nothing
(recorded=False). It never talks to SMTP: the case delivers each queued notice with an
activity of its own (`notifications.send`). Only a step queued by code from before that
change (`notices_apart` false) still has its e-mails delivered here.
PostgreSQL unreachable or a dropped connection: the exception propagates and Temporal
retries (the transaction was rolled back, no partial rows). Invalid input or an unknown
dossier: a non-retryable ApplicationError of type models.errors.Refusal.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import notifications as mail
from models.errors import Refusal
from models.steps import StepInput, StepResult
from registry import notifications as outbox
from registry import steps
from registry.errors import RegistryError
from runtime.settings import Settings


class RegistryActivities:
    def __init__(self, pool: asyncpg.Pool[Any], settings: Settings) -> None:
        self._pool = pool
        self._settings = settings

    @activity.defn(name="registry.record_step")
    async def record_step(self, step: StepInput) -> StepResult:
        try:
            mail.check_context(step)
            async with self._pool.acquire() as conn, conn.transaction():
                recorded = await steps.record(conn, step)
                if recorded and step.notifications:
                    await mail.enqueue(conn, self._settings, step)
        except RegistryError as exc:
            raise ApplicationError(exc.message, type=exc.refusal.value, non_retryable=True) from exc
        except asyncpg.ForeignKeyViolationError as exc:
            raise ApplicationError(
                f"dossier {step.dossier} (or the appeal it names) does not exist: {exc.detail}",
                type=Refusal.NOT_FOUND.value,
                non_retryable=True,
            ) from exc
        except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError) as exc:
            raise ApplicationError(
                f"step {step.step} of {step.dossier} breaks a registry rule: {exc}",
                type=Refusal.INVALID_INPUT.value,
                non_retryable=True,
            ) from exc
        activity.logger.info(
            "registry.step.recorded" if recorded else "registry.step.replayed",
            extra={"dossier": step.dossier, "step": step.step},
        )
        if step.notifications and not step.notices_apart:
            delivery = await mail.deliver(self._pool, self._settings, step.dossier)
            mail.raise_if_deferred(delivery)
        return StepResult(
            recorded=recorded, sent=await outbox.sent_for_step(self._pool, step.dossier, step.step)
        )
