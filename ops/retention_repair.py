"""`python -m ops retention repair [--dry-run] [--dossier ODB-…]`: rows an earlier strip
damaged, restored from the dossier's archive and stripped as personal_fields.yaml declares.

Before the declaration, the strip guessed people by key names: it changed an appeal's
`subject` to a role, emptied a decision's `body` (the competent body), and dropped each audit
step's copy of the case and its e-mails' values whole. The archive (one ZIP per ended
dossier, written before anything of it is purged) holds every row as it was. For each
dossier a purge stripped, the repair takes the archived audit steps and case, strips them as
declared, and writes the difference over the stored rows, path by path; the other declared
tables are stripped again as declared. One transaction per dossier; each row repaired is
written to `retention_repairs` (which archive, which declaration, which paths). A dry run
changes nothing and prints what would change. Running it again finds nothing to do.

An archive that does not verify against its manifest is not used: that dossier is left as
it is, named, and the command exits 1.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from activities.archives import verify
from models.personal import PersonalFields
from models.retention import Kind
from registry import personal as declared
from registry.db import Conn

# The tables whose rows the archive restores (the rest are stripped again as they stand:
# the earlier strip touched only their personal columns). Archived as record.audit, case.
_FROM_ARCHIVE = ("audit", "case_rows")


@dataclass
class Outcome:
    dossiers: int = 0
    rows: int = 0
    lines: list[str] = field(default_factory=list)
    unusable: list[str] = field(default_factory=list)


def _unusable(path: Path, sha256: str) -> str:
    """Why the archive file is not the one recorded when it was written ('' when it is)."""
    try:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            return "its SHA-256 differs from the one recorded when it was written"
        problems = verify(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "; ".join(problems)


def _archived(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as z:
        body: dict[str, Any] = json.loads(z.read("dossier.json"))
    return body


def _originals(body: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per table, per row key, the columns the archive holds as they were."""
    steps = {a["step"]: a for a in body.get("record", {}).get("audit", [])}
    out: dict[str, dict[str, dict[str, Any]]] = {"audit": {}, "case_rows": {}}
    for step, entry in steps.items():
        out["audit"][step] = {"details": entry.get("details") or {}}
    if body.get("case") is not None:
        out["case_rows"][body["dossier"]] = {"status": body["case"]}
    return out


def _archive_key(table: str, row: asyncpg.Record) -> str:
    return str(row["step"] if table == "audit" else row["dossier"])


async def repair_dossier(
    conn: Conn,
    personal: PersonalFields,
    stripped: declared.Stripped,
    body: dict[str, Any],
    *,
    run_id: str,
    by: str,
    dry: bool,
) -> list[tuple[str, str, list[str]]]:
    """(table, row key, paths) of each row of the dossier that is (or would be) repaired."""
    originals = _originals(body)
    done: list[tuple[str, str, list[str]]] = []
    async with conn.transaction():
        await conn.execute("SET LOCAL odb.retention = 'strip'")  # the audit trigger's leave
        for table in [t for kind in stripped.kinds for t in personal.tables_of(Kind(kind))]:
            for row in await declared.rows(conn, table, [stripped.dossier]):
                source = dict(row)
                if table in _FROM_ARCHIVE:
                    source.update(originals[table].get(_archive_key(table, row), {}))
                target = declared.stripped(personal, table, source)
                paths = await declared.write(conn, table, row, target, dry=dry)
                if not paths:
                    continue
                key = declared.row_key(table, row)
                done.append((table, key, paths))
                if not dry:
                    await declared.record_repair(
                        conn,
                        run_id=run_id,
                        dossier=stripped.dossier,
                        table=table,
                        key=key,
                        archive_sha256=stripped.archive_sha256,
                        declaration_version=personal.version,
                        paths=paths,
                        by=by,
                    )
    return done


async def repair(
    pool: asyncpg.Pool[Any],
    personal: PersonalFields,
    archive_root: Path,
    *,
    dry: bool,
    by: str,
    dossier: str | None = None,
) -> Outcome:
    run_id = "repair-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    out = Outcome()
    for s in await declared.stripped_dossiers(pool, dossier):
        path = archive_root / s.archive_path
        problem = _unusable(path, s.archive_sha256)
        if problem:
            out.unusable.append(
                f"{s.dossier}: not repaired, its archive {path} cannot be used: {problem}"
            )
            continue
        async with pool.acquire() as conn:
            done = await repair_dossier(
                conn, personal, s, _archived(path), run_id=run_id, by=by, dry=dry
            )
        if done:
            out.dossiers += 1
            out.rows += len(done)
        for table, key, paths in done:
            out.lines.append(f"  {s.dossier}  {table} {key}: {', '.join(paths)}")
    verb = "would repair" if dry else "repaired"
    if out.rows == 0:
        out.lines.insert(0, "nothing to repair: every stripped row is as declared")
    else:
        out.lines.insert(
            0,
            f"{verb} {out.rows} rows of {out.dossiers} dossiers from their archives"
            + ("" if dry else f" (run {run_id}, written to retention_repairs)")
            + (": nothing is changed" if dry else ""),
        )
    return out


def report(out: Outcome) -> int:
    for line in out.lines:
        sys.stdout.write(line + "\n")
    for line in out.unusable:
        sys.stderr.write(line + "\n")
    return 1 if out.unusable else 0
