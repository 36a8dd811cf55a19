"""The one settings class: `temporal-dev.yaml`, overridden by environment variables.

Unknown keys and wrong types are refused with the key named, so a typo in the YAML never
silently falls back to a default.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "temporal-dev.yaml"

# The conventional names operators already use, mapped onto our keys.
ENV_ALIASES: dict[str, tuple[str, str]] = {
    "DATABASE_URL": ("postgres", "url"),
    "TEMPORAL_ADDRESS": ("temporal", "address"),
    "TEMPORAL_NAMESPACE": ("temporal", "namespace"),
    "TEMPORAL_TLS_CERT": ("temporal", "tls_cert"),
    "TEMPORAL_TLS_KEY": ("temporal", "tls_key"),
    "TEMPORAL_API_KEY": ("temporal", "api_key"),
    "SMTP_HOST": ("smtp", "host"),
    "SMTP_PORT": ("smtp", "port"),
    "SMTP_USERNAME": ("smtp", "username"),
    "SMTP_PASSWORD": ("smtp", "password"),
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TemporalSettings(_Section):
    address: str = "127.0.0.1:7233"
    namespace: str = "odb"
    ui_port: int = Field(8233, ge=1, le=65535)
    server_metrics_port: int = Field(7235, ge=1, le=65535)
    db_filename: str = "temporal.db"
    sqlite_pragmas: dict[str, str] = Field(default_factory=dict)
    task_queue: str = "odb-cases"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    api_key: str | None = None
    search_attributes: dict[
        str, Literal["Keyword", "Datetime", "Bool", "Int", "Double", "Text", "KeywordList"]
    ] = Field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])


class PostgresSettings(_Section):
    url: str | None = None
    embedded_port: int = Field(55432, ge=1, le=65535)
    database: str = "odb"
    pool_min: int = Field(1, ge=0)
    pool_max: int = Field(10, ge=1)


class SmtpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8025, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    sender: str = "opleidingsdatabank@vlaanderen.be"
    # A server that accepts the connection but does not answer is given up on after this.
    timeout_seconds: float = Field(30, gt=0, le=300)


class NotificationSettings(_Section):
    bec_address: str = "beroepscommissie.wse@vlaanderen.be"
    contact_address: str = "opleidingsdatabank@vlaanderen.be"
    department_address: str = "vov@vlaanderen.be"
    # A notice claimed for sending by a worker that then died or stalled is taken over by
    # another after this long (the claiming activity itself retries at once).
    claim_lease_seconds: int = Field(600, ge=10)


class WorkerSettings(_Section):
    metrics_port: int = Field(9464, ge=0, le=65535)
    graceful_shutdown_seconds: float = Field(20, ge=0)
    max_cached_workflows: int = Field(6000, ge=0)


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_body_bytes: int = Field(65536, ge=1024)


class AuthSettings(_Section):
    issuer: str = "wse-loket"
    audience: str = "opleidingsdatabank"
    jwks: str | None = None
    dev_secret: str | None = None


class ScreeningSettings(_Section):
    schedule_id: str = "odb-yearly-screening"
    month: int = Field(1, ge=1, le=12)
    day: int = Field(15, ge=1, le=31)
    hour: int = Field(6, ge=0, le=23)
    minute: int = Field(0, ge=0, le=59)
    timezone: str = "Europe/Brussels"
    catchup_window_days: int = Field(30, ge=1)
    rubric: Path = Path("rubrics/example-2027.yaml")
    continue_as_new_within_days: int = Field(7, ge=0, le=60)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ODB_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    state_dir: Path = Path(".dev")
    temporal: TemporalSettings = TemporalSettings()
    postgres: PostgresSettings = PostgresSettings()
    smtp: SmtpSettings = SmtpSettings()
    notifications: NotificationSettings = NotificationSettings()
    worker: WorkerSettings = WorkerSettings()
    api: ApiSettings = ApiSettings()
    auth: AuthSettings = AuthSettings()
    screening: ScreeningSettings = ScreeningSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _AliasEnvSource(settings_cls))

    @property
    def state_path(self) -> Path:
        path = self.state_dir
        return path if path.is_absolute() else PROJECT_ROOT / path

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else PROJECT_ROOT / path


class _AliasEnvSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, dict[str, str]] = {}
        for env_name, (section, key) in ENV_ALIASES.items():
            value = os.environ.get(env_name)
            if value:
                out.setdefault(section, {})[key] = value
        return out


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and what to do."""


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read the YAML file, apply environment variables, then `overrides` (tests use these)."""
    path = path or Path(os.environ.get("ODB_CONFIG", DEFAULT_CONFIG))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    # Environment beats the file: build from env first, then lay the file underneath.
    try:
        from_env = Settings().model_dump(exclude_unset=True)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, "environment")) from exc
    data = _merge(_merge(raw, from_env), overrides)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(path))) from exc


def _describe(exc: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration in {origin}:"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key; remove it or check its spelling")
        else:
            lines.append(f"  {key}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
