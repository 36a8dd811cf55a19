"""The one settings class, read through pydantic-settings sources, highest first:
`load_settings(**overrides)` (tests), the environment (`ODB_<SECTION>__<KEY>`, then the
conventional names in ENV_ALIASES), the YAML file (`ODB_CONFIG`, else `temporal-dev.yaml`),
the defaults below. Sections are merged key by key across sources.

Unknown keys and wrong types are refused with the key named, so a typo in the YAML never
silently falls back to a default.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)

from runtime import tls_files

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "temporal-dev.yaml"

# The conventional names operators already use, mapped onto our keys.
ENV_ALIASES: dict[str, tuple[str, str]] = {
    "DATABASE_URL": ("postgres", "url"),
    "TEMPORAL_ADDRESS": ("temporal", "address"),
    "TEMPORAL_NAMESPACE": ("temporal", "namespace"),
    "TEMPORAL_TLS": ("temporal", "tls"),
    "TEMPORAL_TLS_CA": ("temporal", "tls_ca"),
    "TEMPORAL_TLS_SERVER_NAME": ("temporal", "tls_server_name"),
    "TEMPORAL_TLS_CERT": ("temporal", "tls_cert"),
    "TEMPORAL_TLS_KEY": ("temporal", "tls_key"),
    "TEMPORAL_API_KEY": ("temporal", "api_key"),
    "SMTP_HOST": ("smtp", "host"),
    "SMTP_PORT": ("smtp", "port"),
    "SMTP_USERNAME": ("smtp", "username"),
    "SMTP_PASSWORD": ("smtp", "password"),
}


def env_name(section: str, key: str) -> str:
    """The variable an operator sets for a key: its conventional name, else ODB_<S>__<K>."""
    for name, target in ENV_ALIASES.items():
        if target == (section, key):
            return name
    return f"ODB_{section.upper()}__{key.upper()}"


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
    # TLS to the frontend (runtime/temporal.py: tls_config). It is on when `tls` is true, or
    # when any of tls_ca, tls_cert or api_key is given (a CA alone: server-only TLS with a
    # private CA); `tls: false` with any of them is refused, never silently plaintext.
    tls: bool | None = None
    # PEM file of the CA(s) that signed the server's certificate; none: the system's CAs.
    tls_ca: Path | None = None
    # The name the server's certificate must carry (and the SNI), when it is not the host
    # of `address` (an IP address, an internal load balancer name).
    tls_server_name: str | None = None
    # Mutual TLS: this client's certificate and its unencrypted private key (PEM), together.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    api_key: str | None = None
    # Days a closed workflow's history is kept, for a namespace `python -m starter setup`
    # creates (an existing namespace is left as it is; Temporal Cloud allows 1-90).
    retention_days: int = Field(30, ge=1, le=3650)
    search_attributes: dict[
        str, Literal["Keyword", "Datetime", "Bool", "Int", "Double", "Text", "KeywordList"]
    ] = Field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    @property
    def tls_enabled(self) -> bool:
        """`tls` when given, else implied by a CA, a client certificate or an API key."""
        if self.tls is not None:
            return self.tls
        return bool(self.tls_ca or self.tls_cert or self.tls_key or self.api_key)

    @model_validator(mode="after")
    def _tls_usable(self) -> TemporalSettings:
        """Half-configured TLS stops every process at start (all of them read settings
        first), each problem reported on the key it concerns with the variable to set."""
        problems = _tls_problems(self)
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("temporal_tls", "{reason}", {"reason": why}),
                        loc=(key,),
                        input=shown,
                    )
                    for key, shown, why in problems
                ],
            )
        return self


_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*$"
)
# Settings that mean TLS: with `tls: false` they are a contradiction.
_NEED_TLS = ("tls_ca", "tls_server_name", "tls_cert", "tls_key", "api_key")
# What each TLS file must be, and how it is checked (runtime/tls_files.py).
_TLS_FILES: tuple[tuple[str, str, Callable[[Path], bytes]], ...] = (
    ("tls_ca", "the CA certificate that signed the server's certificate", tls_files.certificates),
    ("tls_cert", "this client's certificate", tls_files.certificates),
    ("tls_key", "the private key of the client certificate", tls_files.private_key),
)


def _tls_problems(t: TemporalSettings) -> list[tuple[str, object, str]]:
    """(key, value shown, what is wrong and what to do) for each TLS setting that cannot
    work as given."""
    name = functools.partial(env_name, "temporal")
    tls, ca, server, cert, key = (
        name(k) for k in ("tls", "tls_ca", "tls_server_name", "tls_cert", "tls_key")
    )
    problems: list[tuple[str, object, str]] = []
    if t.tls is False:
        needing = [name(k) for k in _NEED_TLS if getattr(t, k)]
        if needing:
            problems.append(
                (
                    "tls",
                    False,
                    f"{tls}=false, but {' and '.join(needing)} need TLS"
                    f"{' (an API key is never sent in plaintext)' if t.api_key else ''}: "
                    f"unset {tls} (TLS is then on), or unset those",
                )
            )
    readable: set[str] = set()
    for k, what, check in _TLS_FILES:
        path = getattr(t, k)
        if path is None:
            continue
        try:
            check(path)
        except tls_files.TlsFileError as exc:
            problems.append((k, str(path), f"{name(k)} must name {what} (PEM): {exc}"))
        else:
            readable.add(k)
    if t.tls_cert and not t.tls_key:
        problems.append(
            (
                "tls_cert",
                str(t.tls_cert),
                f"{cert} is set but {key} is not: a client certificate is used only with its "
                f"private key. Set {key} to the key's PEM file, or unset {cert} (server-only "
                f"TLS needs no client certificate: {ca}, or {tls}=true)",
            )
        )
    if t.tls_key and not t.tls_cert:
        problems.append(
            (
                "tls_key",
                str(t.tls_key),
                f"{key} is set but {cert} is not: set {cert} to the PEM file of the "
                f"certificate this key belongs to, or unset {key}",
            )
        )
    if t.tls_cert and t.tls_key and {"tls_cert", "tls_key"} <= readable:
        try:
            tls_files.check_pair(t.tls_cert, t.tls_key)
        except tls_files.TlsFileError as exc:
            problems.append(
                (
                    "tls_key",
                    str(t.tls_key),
                    f"{key} does not go with {cert}: {exc}; give the key that certificate "
                    f"was issued for",
                )
            )
    if t.tls_server_name is not None:
        if not _HOST_NAME.match(t.tls_server_name):
            problems.append(
                (
                    "tls_server_name",
                    t.tls_server_name,
                    f"{server} must be a host name as the server's certificate carries it, "
                    f"e.g. temporal.internal (no scheme, port or path)",
                )
            )
        elif not t.tls_enabled and t.tls is None:
            problems.append(
                (
                    "tls_server_name",
                    t.tls_server_name,
                    f"{server} is set but TLS is off: set {ca} to the PEM file of the private "
                    f"CA that signed the server's certificate (server-only TLS), or {tls}=true "
                    f"when the certificate is publicly trusted, or unset {server}",
                )
            )
    return problems


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
    # The Prometheus endpoint: loopback by default (a scraper on the host); 0.0.0.0 (or ::)
    # for a scraper elsewhere, e.g. a pod's port. An IP address: the SDK binds no names.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9464, ge=0, le=65535)
    graceful_shutdown_seconds: float = Field(20, ge=0)
    max_cached_workflows: int = Field(6000, ge=0)

    @field_validator("metrics_host")
    @classmethod
    def _ip_address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(
                "must be an IP address to listen on: 127.0.0.1 (this host only), 0.0.0.0 "
                "(every IPv4 interface) or :: (every interface)"
            ) from None
        return value

    @property
    def metrics_bind(self) -> str:
        """host:port as the SDK's Prometheus exporter takes it (IPv6 in brackets)."""
        host = f"[{self.metrics_host}]" if ":" in self.metrics_host else self.metrics_host
        return f"{host}:{self.metrics_port}"


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_body_bytes: int = Field(65536, ge=1024)
    # Signs the worklists' and lists' page cursors (HMAC). Required outside dev mode, at
    # least 32 characters of randomness (e.g. `python -c "import secrets;
    # print(secrets.token_urlsafe(32))"`); in dev mode derived from the dev secret.
    cursor_secret: str | None = Field(None, repr=False, min_length=32)


class ReviewSettings(_Section):
    # Days a dossier may wait for its reviewer before the worklist flags it (refuses nothing).
    service_norm_days: int = Field(60, ge=1, le=3650)


class AuthSettings(_Section):
    issuer: str = "wse-loket"
    audience: str = "opleidingsdatabank"
    # The identity provider's public keys (a JWKS file path or URL): the only key source
    # outside dev mode.
    jwks: str | None = None
    # HS256 secret of the dev stack and tests; honoured only in dev mode (starter/auth.py).
    dev_secret: str | None = Field(None, repr=False)


class WebSettings(_Section):
    """The staff's and providers' web application (starter/web, docs/web.md)."""

    host: str = "127.0.0.1"
    port: int = Field(8001, ge=1, le=65535)
    # The address people type (behind a proxy: its https address); the identity provider
    # sends them back to <public_url>/aanmelden/terug. Empty: http://<host>:<port>.
    public_url: str | None = None
    # The department's OpenID Connect provider: its issuer URL (discovery at
    # <issuer>/.well-known/openid-configuration) and this application's client there.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = Field(None, repr=False)
    # Signs the session cookie. Required outside dev mode (at least 32 random characters);
    # in dev mode derived from the dev secret.
    session_secret: str | None = Field(None, repr=False, min_length=32)
    # Minutes without a request after which a session ends (sign in again).
    idle_minutes: int = Field(30, ge=1, le=24 * 60)
    # Where the dev stack runs its own OpenID provider (devstack/oidc_provider.py); unused
    # by a deploy, which names its provider in oidc_issuer.
    dev_provider_port: int = Field(8002, ge=1, le=65535)


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


class SubscriptionSettings(_Section):
    """One webhook receiver (the portal). Keyed by name in `events.subscriptions`."""

    url: str
    # Standard Webhooks secret: `whsec_` + base64 of at least 24 random bytes.
    secret: str = Field(repr=False)
    # Secret rotation: the old secret, kept beside the new `secret` while the receiver moves
    # over. Every delivery is then signed with both (webhook-signature `v1,<new> v1,<old>`),
    # so a receiver that knows either one accepts it. Remove it once the receiver has moved.
    previous_secret: str | None = Field(None, repr=False)
    # Event types sent (full CloudEvents types); empty: every type.
    types: tuple[str, ...] = ()
    # Dossiers delivered at once (each dossier's events stay in order).
    max_concurrency: int = Field(8, ge=1, le=256)
    # An event not accepted within this many hours of its step is marked failed (ops can
    # redeliver it); its dossier's later events then go on.
    retry_horizon_hours: float = Field(24, gt=0, le=24 * 30)
    # A receiver that does not answer within this is treated as a failed attempt.
    timeout_seconds: float = Field(10, gt=0, le=120)
    # Exponential backoff per dossier: 1 s, 2 s, 4 s ... at most this.
    max_backoff_seconds: float = Field(30, ge=1, le=3600)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parsed = urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("must be an absolute http(s) URL, e.g. https://loket.example/hooks")
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        return _webhook_secret(value)

    @field_validator("previous_secret")
    @classmethod
    def _previous_secret(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if value == info.data.get("secret"):
            raise ValueError("is the same as secret: give the old secret here, the new in secret")
        return _webhook_secret(value)

    @property
    def signing_secrets(self) -> tuple[str, ...]:
        """The secrets each delivery is signed with: the new, then the old (rotation)."""
        if self.previous_secret is None:
            return (self.secret,)
        return (self.secret, self.previous_secret)


def _webhook_secret(value: str) -> str:
    raw = value.removeprefix("whsec_")
    try:
        key = base64.b64decode(raw + "==", validate=False)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < 24:
        raise ValueError("must be whsec_ followed by base64 of at least 24 random bytes")
    return value


class EventsSettings(_Section):
    # The CloudEvents `source` of every event is fixed (models/events.py); these tune delivery.
    subscriptions: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")],
        SubscriptionSettings,
    ] = Field(default_factory=dict)
    # How often an idle delivery looks for new events (the lag floor while the receiver is up).
    poll_seconds: float = Field(0.2, gt=0, le=60)
    # One delivery activity runs this long, then the workflow starts the next one.
    run_seconds: float = Field(60, ge=1, le=3600)


class RetentionSettings(_Section):
    """What is kept and for how long (docs/retention.md): the table, the nightly purge's
    Schedule, and where each ended dossier's archive file is written."""

    # The retention table (data): read and checked at start; a bad one stops the process
    # naming the key (runtime/retention_table.py).
    table: Path = Path("retention.yaml")
    # Which column or JSON path of which table holds a person's data: the strip touches
    # exactly those (models/personal.py); checked at start like the table.
    personal_fields: Path = Path("personal_fields.yaml")
    # One ZIP per ended dossier. None: <state_dir>/archive (the dev stack). Production: a
    # volume of the archive store, not the database's disk (docs/deploy.md).
    archive_dir: Path | None = None
    schedule_id: str = "odb-retention"
    hour: int = Field(2, ge=0, le=23)
    minute: int = Field(30, ge=0, le=59)
    timezone: str = "Europe/Brussels"
    # Records per batch (one transaction each) and batches per workflow run.
    batch_size: int = Field(200, ge=1, le=10000)
    batches_per_run: int = Field(100, ge=1, le=10000)

    @model_validator(mode="after")
    def _table_usable(self) -> RetentionSettings:
        from runtime.retention_table import TableError, load_personal, load_table

        for name, load in (("table", load_table), ("personal_fields", load_personal)):
            given: Path = getattr(self, name)
            path = given if given.is_absolute() else PROJECT_ROOT / given
            try:
                load(path)
            except TableError as exc:
                raise ValidationError.from_exception_data(
                    type(self).__name__,
                    [
                        InitErrorDetails(
                            type=PydanticCustomError(
                                "retention_table", "{file}: {key}: {reason}", {
                                    "file": str(given), "key": key, "reason": why
                                }
                            ),
                            loc=(name,),
                            input=str(given),
                        )
                        for key, why in exc.problems
                    ],
                ) from None
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ODB_",
        env_nested_delimiter="__",
        # The default file; ODB_CONFIG names another, looked up each time settings are built
        # (config_file), so a test or a child process can point elsewhere.
        yaml_file=DEFAULT_CONFIG,
        extra="forbid",
        frozen=True,
    )

    state_dir: Path = Path(".dev")
    # Dev mode: dev tokens (HS256, auth.dev_secret) and derived dev keys are honoured. Only
    # the environment turns it on (ODB_DEV_MODE=1, set by the dev stack for its processes)
    # or a test's arguments, never a file: temporal-dev.yaml is read by deploys too.
    dev_mode: bool = False
    temporal: TemporalSettings = TemporalSettings()
    postgres: PostgresSettings = PostgresSettings()
    smtp: SmtpSettings = SmtpSettings()
    notifications: NotificationSettings = NotificationSettings()
    worker: WorkerSettings = WorkerSettings()
    review: ReviewSettings = ReviewSettings()
    api: ApiSettings = ApiSettings()
    auth: AuthSettings = AuthSettings()
    web: WebSettings = WebSettings()
    screening: ScreeningSettings = ScreeningSettings()
    events: EventsSettings = EventsSettings()
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # No .env file and no secrets directory: only what is listed in the module docstring.
        return (
            init_settings,
            env_settings,
            _AliasEnvSource(settings_cls),
            _YamlFile(settings_cls, yaml_file=config_file()),
        )

    @property
    def state_path(self) -> Path:
        path = self.state_dir
        return path if path.is_absolute() else PROJECT_ROOT / path

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else PROJECT_ROOT / path

    @property
    def archive_path(self) -> Path:
        """Where each ended dossier's archive file goes (retention.archive_dir)."""
        folder = self.retention.archive_dir
        return self.state_path / "archive" if folder is None else self.resolve(folder)


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and what to do."""


def config_file() -> Path:
    """The YAML file read: `ODB_CONFIG` when set, else `temporal-dev.yaml` (absent: no file)."""
    named = os.environ.get("ODB_CONFIG")
    return Path(named) if named else DEFAULT_CONFIG


class _YamlFile(YamlConfigSettingsSource):
    """The library's YAML source, with its two failures turned into our messages: the file
    is not YAML, or its top level is not a mapping (the library would fail on `.keys()`)."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            data = super()._read_file(file_path)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file_path}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{file_path}: the top level must be a mapping of sections")
        if "dev_mode" in data:
            raise ConfigError(
                f"{file_path}: dev_mode: a file cannot turn dev mode on (a deploy may read the "
                "same file); remove the key and set ODB_DEV_MODE=1 in the environment of a "
                "dev process (the dev stack does this for its own processes)"
            )
        return data


class _AliasEnvSource(PydanticBaseSettingsSource):
    """The names in ENV_ALIASES. Hand-written because pydantic-settings reads a nested key
    only as `<prefix><field><delimiter><key>` (ODB_POSTGRES__URL): an alias on a section's
    field is not an environment name, and an unprefixed alias on a whole section would take
    the section, not one key of it."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, dict[str, str]] = {}
        for env_name, (section, key) in ENV_ALIASES.items():
            value = os.environ.get(env_name)
            if value:
                out.setdefault(section, {})[key] = value
        return out


def load_settings(**overrides: Any) -> Settings:
    """The settings from all sources; `overrides` (tests use these) beat the environment and
    the file key by key: `postgres={"url": ...}` keeps the other postgres keys."""
    try:
        return Settings(**overrides)
    except SettingsError as exc:  # an environment value that is not valid JSON for its key
        raise ConfigError(f"invalid configuration in environment:\n  {exc}") from exc
    except ValidationError as exc:
        raise ConfigError(_describe(exc, overrides)) from exc


def _describe(exc: ValidationError, overrides: dict[str, Any]) -> str:
    """One block per origin (the environment, the file, the overrides), one line per key."""
    by_origin: dict[str, list[str]] = {}
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            line = f"  {key}: unknown key; remove it or check its spelling"
        elif err["type"] == "retention_table":  # names the key in the table file itself
            line = f"  {key}: {err['msg']}"
        elif key.endswith("secret") or key.endswith("password"):
            line = f"  {key}: {err['msg']}"  # never echo a secret into a log
        else:
            line = f"  {key}: {err['msg']} (got {err.get('input')!r})"
        by_origin.setdefault(_origin(err["loc"], overrides), []).append(line)
    return "\n".join(
        line
        for origin, lines in by_origin.items()
        for line in [f"invalid configuration in {origin}:", *lines]
    )


def _origin(loc: tuple[int | str, ...], overrides: dict[str, Any]) -> str:
    """Where the value at `loc` came from, highest source first (a validation error does not
    say): asked of the same environment sources the settings were read through."""
    if _holds(overrides, loc):
        return "load_settings arguments"
    if _holds(EnvSettingsSource(Settings)(), loc) or _holds(_AliasEnvSource(Settings)(), loc):
        return "environment"
    return str(config_file())


def _holds(data: Any, loc: tuple[int | str, ...]) -> bool:
    """True when `data` has a value at `loc`, or a whole value (not a mapping) above it."""
    for part in loc:
        if not isinstance(data, dict):
            return True
        if part not in data:
            return False
        data = data[part]
    return True
