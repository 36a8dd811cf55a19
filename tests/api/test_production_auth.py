"""A production API (no dev mode, the identity provider's JWKS) never accepts a dev token, and
a configuration whose key sources are ambiguous or missing stops the API before it serves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from runtime.settings import PROJECT_ROOT, ConfigError, load_settings
from starter.api.app import create_app
from starter.auth import DEV_SECRET_FILE, TokenVerifier, make_dev_secret, mint_dev_token
from tests.fixtures.api import PERSONAS, Api, production_settings

# The secret temporal-dev.yaml published until it held none: it must open nothing anywhere.
PUBLISHED_SECRET = "dev-only-secret-change-me-0123456789abcdef"


@pytest.fixture(scope="module")
def jwks_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "portal-2027", "use": "sig", "alg": "RS256"})
    path = tmp_path_factory.mktemp("idp") / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return path


@pytest.mark.parametrize("secret", ["published", "test stack's"])
async def test_a_production_api_refuses_dev_tokens_of_every_role(
    api: Api, jwks_file: Path, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Configured as docs/deploy.md's production paragraph says: environment only, no ODB_CONFIG.
    monkeypatch.delenv("ODB_CONFIG", raising=False)
    monkeypatch.setenv("ODB_AUTH__JWKS", str(jwks_file))
    monkeypatch.setenv("ODB_API__CURSOR_SECRET", "c" * 40)
    settings = load_settings()
    assert not settings.dev_mode and settings.auth.dev_secret is None
    app = create_app(settings, client=api.env.client, pool=api.pool)
    mint_settings = api.settings
    if secret == "published":
        published = api.settings.auth.model_copy(update={"dev_secret": PUBLISHED_SECRET})
        mint_settings = api.settings.model_copy(update={"auth": published})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://odb.test"
    ) as http:
        for persona, (org, roles) in PERSONAS.items():
            token = mint_dev_token(mint_settings, f"user-{persona}", org=org, roles=roles)
            for method, path in (("GET", "/worklist"), ("GET", "/events"), ("POST", "/documents")):
                answer = await http.request(
                    method, path, headers={"Authorization": f"Bearer {token}"}
                )
                assert answer.status_code == 401, (persona, path, answer.text)
                assert "HS256 is not accepted" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("dev_mode", "auth", "api_section", "named"),
    [
        (False, {"jwks": None, "dev_secret": "s" * 40}, {}, "auth.dev_secret"),
        (False, {"jwks": "JWKS", "dev_secret": "s" * 40}, {}, "auth.dev_secret"),
        (False, {"jwks": None, "dev_secret": None}, {}, "auth.jwks"),
        (False, {"jwks": "JWKS", "dev_secret": None}, {}, "api.cursor_secret"),
        (False, {"jwks": "http://idp.example/jwks"}, {"cursor_secret": "c" * 40}, "plain http"),
        (True, {"jwks": "JWKS", "dev_secret": "s" * 40}, {}, "both set"),
        (True, {"jwks": None, "dev_secret": None}, {}, "no key source"),
    ],
)
def test_ambiguous_or_missing_key_sources_stop_the_api(
    jwks_file: Path,
    dev_mode: bool,
    auth: dict[str, str | None],
    api_section: dict[str, str],
    named: str,
) -> None:
    auth = {k: str(jwks_file) if v == "JWKS" else v for k, v in auth.items()}
    settings = load_settings(dev_mode=dev_mode, auth=auth, api=api_section)
    with pytest.raises(ConfigError, match=named):
        TokenVerifier(settings)


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ODB_", "TEMPORAL_"))}
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_api_process_refuses_to_start_with_a_dev_secret_beside_jwks(
    jwks_file: Path, tmp_path: Path
) -> None:
    done = _run(
        ["-m", "starter.api"],
        {
            "ODB_STATE_DIR": str(tmp_path),
            "ODB_AUTH__JWKS": str(jwks_file),
            "ODB_AUTH__DEV_SECRET": "s" * 40,
            "ODB_API__PORT": "1",  # never reached: it must stop before listening
        },
    )
    assert done.returncode != 0
    assert "cannot start" in done.stderr and "auth.dev_secret" in done.stderr


def test_dev_tokens_are_minted_only_in_dev_mode(tmp_path: Path) -> None:
    refused = _run(["-m", "starter", "token", "--sub", "x"], {"ODB_STATE_DIR": str(tmp_path)})
    assert refused.returncode == 2
    assert "only in dev mode" in refused.stderr and "make run" in refused.stderr
    # Once the dev stack made its secret in this state folder, tokens carry that secret.
    secret = make_dev_secret(tmp_path)
    assert (tmp_path / DEV_SECRET_FILE).stat().st_mode & 0o077 == 0
    minted = _run(["-m", "starter", "token", "--sub", "x"], {"ODB_STATE_DIR": str(tmp_path)})
    assert minted.returncode == 0, minted.stderr
    jwt.decode(minted.stdout.strip(), secret, algorithms=["HS256"], audience="opleidingsdatabank")


def test_no_file_turns_dev_mode_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "odb.yaml"
    config.write_text("dev_mode: true\n")
    monkeypatch.setenv("ODB_CONFIG", str(config))
    with pytest.raises(ConfigError, match="ODB_DEV_MODE=1"):
        load_settings()


def test_the_default_file_holds_no_dev_secret() -> None:
    text = (PROJECT_ROOT / "temporal-dev.yaml").read_text()
    assert "dev_secret:" not in text and PUBLISHED_SECRET not in text


def test_a_complete_production_configuration_starts(jwks_file: Path) -> None:
    TokenVerifier(production_settings(jwks_file))
