"""The people of the process, through the portal's HTTP API (the real app, in process):
providers, reviewers, the BEC and the department, each with a token the API verifies."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI

from runtime.settings import Settings
from starter.auth import mint_dev_token

TOKEN_TTL = 10 * 24 * 3600  # wall-clock seconds: the API checks tokens on the machine's clock


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def problem(self) -> str:
        """The problem type after `urn:odb:problem:` (empty for a success)."""
        if self.ok or not isinstance(self.body, dict):
            return ""
        return str(self.body.get("type", "")).removeprefix("urn:odb:problem:")

    def brief(self) -> str:
        if isinstance(self.body, dict) and "detail" in self.body:
            return f"{self.status} {self.problem}: {self.body['detail']}"
        return f"{self.status}"


class Portal:
    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://odb.sim", timeout=60
        )
        self._tokens: dict[tuple[str | None, tuple[str, ...]], str] = {}
        self.calls = 0

    async def close(self) -> None:
        await self.http.aclose()

    def _auth(self, org: str | None, roles: tuple[str, ...]) -> dict[str, str]:
        key = (org, roles)
        token = self._tokens.get(key)
        if token is None:
            subject = f"sim-{org or '-'}-{'-'.join(roles)}".replace(" ", "")
            token = mint_dev_token(
                self.settings, subject, org=org, roles=roles, ttl_seconds=TOKEN_TTL
            )
            self._tokens[key] = token
        return {"Authorization": f"Bearer {token}"}

    @staticmethod
    def reviewer(body: str) -> tuple[str | None, tuple[str, ...]]:
        return None, (f"reviewer:{body}",)

    BEC: tuple[str | None, tuple[str, ...]] = (None, ("bec",))
    DEPARTMENT: tuple[str | None, tuple[str, ...]] = (None, ("department",))

    @staticmethod
    def provider(org: str) -> tuple[str | None, tuple[str, ...]]:
        return org, ("provider",)

    async def _answer(self, response: httpx.Response) -> Answer:
        self.calls += 1
        try:
            body = response.json()
        except json.JSONDecodeError:
            body = response.text
        return Answer(response.status_code, body)

    async def submit(self, org: str, body: dict[str, Any], key: str) -> Answer:
        response = await self.http.post(
            "/applications",
            json=body,
            headers={**self._auth(*self.provider(org)), "Idempotency-Key": key},
        )
        return await self._answer(response)

    async def act(
        self,
        dossier: str,
        route: str,
        who: tuple[str | None, tuple[str, ...]],
        body: dict[str, Any],
        key: str | None = None,
    ) -> Answer:
        headers = self._auth(*who)
        if key:
            headers["Idempotency-Key"] = key
        response = await self.http.post(f"/dossiers/{dossier}/{route}", json=body, headers=headers)
        return await self._answer(response)

    async def read(self, dossier: str) -> Answer:
        response = await self.http.get(f"/dossiers/{dossier}", headers=self._auth(*self.BEC))
        return await self._answer(response)

    async def registered(self, dossier: str, day: date) -> bool:
        response = await self.http.get(
            f"/dossiers/{dossier}/registered",
            params={"on": day.isoformat()},
            headers=self._auth(*self.DEPARTMENT),
        )
        self.calls += 1
        response.raise_for_status()
        return bool(response.json()["registered"])

    async def open_data(self, day: date) -> frozenset[str]:
        """The dossiers in the open-data export of `day` (its first column), read as a
        CSV reader would (a quoted title may hold a line break)."""
        response = await self.http.get(
            "/open-data/registered.csv",
            params={"on": day.isoformat()},
            headers=self._auth(*self.DEPARTMENT),
        )
        self.calls += 1
        response.raise_for_status()
        header, *rows = csv.reader(io.StringIO(response.text))
        if header[:1] != ["dossier"]:
            raise ValueError(f"the export's first column is not the dossier: {header!r}")
        return frozenset(row[0] for row in rows if row)

    async def report(self, year: int) -> Answer:
        """The department's figures of `year` (GET /reports/{year}), as the department."""
        response = await self.http.get(f"/reports/{year}", headers=self._auth(*self.DEPARTMENT))
        return await self._answer(response)
