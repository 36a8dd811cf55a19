"""The web application's settings checked at start: a half-configured OpenID client or a
missing session secret stops it before it listens, naming the setting."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from runtime.settings import ConfigError, Settings, env_name

_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_CLIENT_KEYS = ("oidc_issuer", "oidc_client_id", "oidc_client_secret")


def check_web_config(settings: Settings) -> None:
    web = settings.web
    missing = [key for key in _CLIENT_KEYS if not getattr(web, key)]
    if missing:
        names = ", ".join(f"web.{k} ({env_name('web', k)})" for k in missing)
        given = [k for k in _CLIENT_KEYS if k not in missing]
        why = (
            f"the OpenID Connect client is half-configured ({', '.join(given)} set)"
            if given
            else "no OpenID Connect provider is configured"
        )
        raise ConfigError(f"{why}: set {names}; staff and providers sign in through it")
    issuer = urlsplit(web.oidc_issuer or "")
    if issuer.scheme not in ("http", "https") or not issuer.hostname:
        raise ConfigError(
            f"web.oidc_issuer: {web.oidc_issuer!r} is not an http(s) URL; give the provider's "
            "issuer, e.g. https://login.example.be/realms/vlaanderen"
        )
    if not settings.dev_mode:
        if issuer.scheme == "http" and issuer.hostname not in _LOOPBACK:
            raise ConfigError(
                f"web.oidc_issuer: {web.oidc_issuer} is plain http; sign-in without TLS can be "
                "read and changed on the way: use the provider's https URL"
            )
        if not web.session_secret:
            raise ConfigError(
                "web.session_secret is not set: outside dev mode the session cookie is signed "
                "with a secret of its own; set ODB_WEB__SESSION_SECRET to at least 32 random "
                "characters"
            )


def session_secret(settings: Settings) -> str:
    """The session cookie's signing secret: web.session_secret, or in dev mode one derived
    from the dev secret (never from a public value)."""
    if settings.web.session_secret:
        return settings.web.session_secret
    if settings.dev_mode and settings.auth.dev_secret:
        return hashlib.sha256(b"odb-web-session|" + settings.auth.dev_secret.encode()).hexdigest()
    raise ConfigError("web.session_secret is not set (required outside dev mode)")


def public_url(settings: Settings) -> str:
    web = settings.web
    return (web.public_url or f"http://{web.host}:{web.port}").rstrip("/")
