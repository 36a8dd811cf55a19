"""Applications: dossier numbers and the submission's idempotency key.

Called by the API before it starts the case workflow (not an activity): the dossier number
is the workflow id, so it must exist first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from pydantic import ValidationError

from models.application import TrainingApplication
from registry import case_rows, case_starts
from registry.db import Conn
from registry.errors import Conflict, InvalidInput, InvalidState, NotFound
from rules import case_view

CONTACT = "opleidingsdatabank@vlaanderen.be"


def parse(payload: Mapping[str, Any]) -> TrainingApplication:
    """Validates a submitted payload; InvalidInput names each field and the rule it breaks."""
    try:
        return TrainingApplication.model_validate(payload)
    except ValidationError as exc:
        raise InvalidInput([_problem(err["loc"], err["msg"]) for err in exc.errors()]) from exc


def _problem(loc: tuple[int | str, ...], msg: str) -> tuple[str, str]:
    msg = msg.removeprefix("Value error, ")
    field = ".".join(str(p) for p in loc)
    if not field:
        # A rule across fields names its field first: "end_date: the training cannot ..."
        field, _, rest = msg.partition(": ")
        if rest and field.isidentifier():
            return field, rest
        return "application", msg
    return field, msg


def _canonical(application: TrainingApplication) -> tuple[dict[str, Any], str]:
    data = application.model_dump(mode="json")
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return data, hashlib.sha256(text.encode()).hexdigest()


class Imported(NamedTuple):
    """A training registered without a case history here (demo data, benchmarks)."""

    dossier: str
    application: TrainingApplication
    provider_name: str | None
    idempotency_key: str
    submitted_at: datetime
    registered_from: date


async def reserve_numbers(conn: Conn, year: int, n: int) -> int:
    """Takes `n` dossier numbers of `year` from the counter; returns the first."""
    last = await conn.fetchval(
        """INSERT INTO dossier_counters (year, last_value) VALUES ($1, $2)
           ON CONFLICT (year) DO UPDATE SET last_value = dossier_counters.last_value + $2
           RETURNING last_value""",
        year,
        n,
    )
    return int(last) - n + 1


async def import_registered(conn: Conn, trainings: Sequence[Imported]) -> None:
    """Writes each training as registered from its day (the caller holds the transaction)."""
    apps = []
    for t in trainings:
        payload, digest = _canonical(t.application)
        a = t.application
        apps.append((
            t.dossier, a.provider, t.idempotency_key, digest, payload, a.title,
            t.provider_name, a.contact_email, a.start_date, a.volume_unit.value, a.volume,
            a.competent_body, t.submitted_at,
        ))  # fmt: skip
    await conn.executemany(
        """INSERT INTO applications (dossier, provider, idempotency_key, payload_sha256,
               payload, title, provider_name, contact_email, start_date, volume_unit,
               volume, competent_body, submitted_at, state)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'registered')""",
        apps,
    )
    await conn.executemany(
        """INSERT INTO registration_periods (dossier, starts_on, opened_step)
           VALUES ($1, $2, 'review')""",
        [(t.dossier, t.registered_from) for t in trainings],
    )


async def allocate(
    conn: Conn,
    idempotency_key: str,
    application: TrainingApplication | Mapping[str, Any],
    submitted_at: datetime,
) -> tuple[str, bool]:
    """Returns (dossier number, created). The same key with the same application returns
    the same dossier (created=False); the same key with another application raises
    Conflict; nothing is written unless a new dossier is created."""
    if not isinstance(application, TrainingApplication):
        application = parse(application)
    key = idempotency_key.strip()
    if not 1 <= len(key) <= 200:
        raise InvalidInput([("idempotency_key", "required, 1 to 200 characters")])
    if submitted_at.tzinfo is None:
        raise InvalidInput([("submitted_at", "must carry a time zone")])
    payload, digest = _canonical(application)
    async with conn.transaction():
        # Concurrent submissions under one key wait here for each other, not on the counter.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
        existing = await conn.fetchrow(
            "SELECT dossier, payload_sha256 FROM applications WHERE idempotency_key = $1", key
        )
        if existing is not None:
            if existing["payload_sha256"] != digest:
                raise Conflict(
                    f"idempotency key {key!r} was already used for dossier "
                    f"{existing['dossier']} with a different application; "
                    f"use a new key for a new submission"
                )
            return str(existing["dossier"]), False
        provider = await conn.fetchrow(
            "SELECT name, active FROM providers WHERE enterprise_number = $1",
            application.provider,
        )
        if provider is None:
            raise NotFound(
                f"provider: enterprise number {application.provider} is not a known training "
                f"provider of the opleidingsdatabank; ask {CONTACT} to register the "
                f"organisation first"
            )
        if not provider["active"]:
            raise InvalidState(
                f"provider: organisation {application.provider} is deactivated in the "
                f"opleidingsdatabank and cannot submit; contact {CONTACT}"
            )
        if application.predecessor_dossier is not None:
            await _check_predecessor(conn, application)
        year = submitted_at.year
        # The row lock on the year's counter serialises allocation; a rollback returns the
        # number unused, so committed numbers have no gaps and are never handed out twice.
        seq = await conn.fetchval(
            """INSERT INTO dossier_counters (year, last_value) VALUES ($1, 1)
               ON CONFLICT (year) DO UPDATE SET last_value = dossier_counters.last_value + 1
               RETURNING last_value""",
            year,
        )
        dossier = f"ODB-{year}-{seq:06d}"
        await conn.execute(
            """INSERT INTO applications (dossier, provider, idempotency_key, payload_sha256,
                   payload, title, provider_name, contact_email, start_date, end_date,
                   volume_unit, volume, competent_body, predecessor_dossier, submitted_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)""",
            dossier,
            application.provider,
            key,
            digest,
            payload,
            application.title,
            # The register's name, never the request's: open data and worklists print it.
            provider["name"],
            application.contact_email,
            application.start_date,
            application.end_date,
            application.volume_unit.value,
            application.volume,
            application.competent_body,
            application.predecessor_dossier,
            submitted_at,
        )
        # Readable at once, before its case recorded the submission: under review.
        status = case_view.initial_status(dossier, application, submitted_at)
        await case_rows.write(conn, case_view.case_row(status, step="submitted", at=submitted_at))
        # Its case is started after this commits; recorded here, the start is never lost.
        await case_starts.record(conn, dossier)
        return dossier, True


async def _check_predecessor(conn: Conn, application: TrainingApplication) -> None:
    """A resubmission replaces a registered training of the same provider (possibly with a
    removal scheduled after a negative screening); anything else is refused by name, and
    another provider's dossier exactly as one that does not exist."""
    name = application.predecessor_dossier
    found = await conn.fetchrow("SELECT provider, state FROM applications WHERE dossier = $1", name)
    if found is None or found["provider"] != application.provider:
        # Another organisation's dossier answers as one that does not exist.
        raise NotFound(
            f"predecessor_dossier: your organisation has no dossier {name}; give the number "
            "of your earlier dossier exactly"
        )
    if found["state"] not in ("registered", "removal_scheduled"):
        state = str(found["state"]).replace("_", " ")
        raise InvalidInput(
            [
                (
                    "predecessor_dossier",
                    f"{name} is {state}; only a registered training can be replaced by a "
                    "resubmission",
                )
            ]
        )


async def provider_name(conn: Conn, dossier: str) -> str | None:
    """The provider's name as the register gave it when the dossier was submitted."""
    value = await conn.fetchval(
        "SELECT provider_name FROM applications WHERE dossier = $1", dossier
    )
    return None if value is None else str(value)


async def submitted(conn: Conn, dossier: str) -> TrainingApplication | None:
    """The application as it was submitted (for the pages' dossier)."""
    payload = await conn.fetchval("SELECT payload FROM applications WHERE dossier = $1", dossier)
    return None if payload is None else TrainingApplication.model_validate(payload)


async def contact_email(conn: Conn, dossier: str) -> str | None:
    value = await conn.fetchval(
        "SELECT contact_email FROM applications WHERE dossier = $1", dossier
    )
    return None if value is None else str(value)


async def mail_facts(conn: Conn, dossier: str) -> dict[str, Any] | None:
    """What every e-mail about the dossier may quote, read from the application."""
    row = await conn.fetchrow(
        """SELECT dossier, title, provider_name, contact_email, start_date, competent_body
           FROM applications WHERE dossier = $1""",
        dossier,
    )
    return None if row is None else dict(row)

