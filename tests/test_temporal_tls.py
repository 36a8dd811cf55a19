"""TLS to Temporal: settings that cannot work stop every process at start, naming the
variable; settings that can work connect over real TLS (a TLS-terminating proxy with a
private CA in front of the real dev server, tests/fixtures/tls.py), and a mismatch with the
server says which variable to change."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import TLSConfig, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from runtime.settings import PROJECT_ROOT, ConfigError, Settings, load_settings
from runtime.temporal import TemporalConnectError, connect, connect_hint, tls_config
from tests.fixtures.tls import SERVER_NAME, Pki, make_pki, tls_proxy

OUTSIDE = ("DATABASE_URL", "SMTP_", "TEMPORAL_", "ODB_")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No setting from outside the test: an empty config file and no TEMPORAL_*/ODB_*."""
    for name in list(os.environ):
        if name.startswith(OUTSIDE):
            monkeypatch.delenv(name)
    config = tmp_path / "config.yaml"
    config.write_text("")
    monkeypatch.setenv("ODB_CONFIG", str(config))
    yield monkeypatch


def refusal(**temporal: object) -> str:
    with pytest.raises(ConfigError) as refused:
        load_settings(
            temporal={k: str(v) if isinstance(v, Path) else v for k, v in temporal.items()}
        )
    return str(refused.value)


# ---- settings that cannot work are refused when they are read ----


def test_a_client_certificate_without_its_key_is_refused_naming_both_variables(
    env: pytest.MonkeyPatch, pki: Pki
) -> None:
    env.setenv("TEMPORAL_TLS_CERT", str(pki.client_cert))
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value).startswith(
        "invalid configuration in environment:\n  temporal.tls_cert: TEMPORAL_TLS_CERT is set "
        "but TEMPORAL_TLS_KEY is not: a client certificate is used only with its private key. "
        "Set TEMPORAL_TLS_KEY to the key's PEM file, or unset TEMPORAL_TLS_CERT"
    ), refused.value


def test_a_key_without_its_certificate_is_refused(env: pytest.MonkeyPatch, pki: Pki) -> None:
    env.setenv("TEMPORAL_TLS_KEY", str(pki.client_key))
    with pytest.raises(ConfigError, match="TEMPORAL_TLS_KEY is set but TEMPORAL_TLS_CERT is not"):
        load_settings()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            {"tls_cert": "missing.pem", "tls_key": "client_key"},
            "temporal.tls_cert: TEMPORAL_TLS_CERT must name this client's certificate (PEM): "
            "there is no file {dir}/missing.pem",
        ),
        (
            {"tls_cert": "", "tls_key": "client_key"},
            "TEMPORAL_TLS_CERT must name this client's certificate (PEM): {dir} is a "
            "directory, not a file",
        ),
        (
            {"tls_cert": "client_key", "tls_key": "client_cert"},
            "{dir}/client-key.pem holds a private key, not a certificate",
        ),
        (
            {"tls_cert": "client_cert", "tls_key": "encrypted.pem"},
            "TEMPORAL_TLS_KEY must name the private key of the client certificate (PEM): "
            "{dir}/encrypted.pem is encrypted with a passphrase",
        ),
        (
            {"tls_cert": "client_cert", "tls_key": "server_key"},
            "temporal.tls_key: TEMPORAL_TLS_KEY does not go with TEMPORAL_TLS_CERT: "
            "{dir}/server-key.pem is not the private key of the certificate in "
            "{dir}/client.pem",
        ),
        (
            {"tls_ca": "notes.txt"},
            "temporal.tls_ca: TEMPORAL_TLS_CA must name the CA certificate that signed the "
            "server's certificate (PEM): {dir}/notes.txt holds no PEM certificate",
        ),
        (
            {"tls_ca": "garbled.pem"},
            "{dir}/garbled.pem has a certificate block that does not parse",
        ),
    ],
    ids=[
        "missing",
        "directory",
        "swapped",
        "encrypted-key",
        "key-of-another",
        "ca-not-pem",
        "ca-garbled",
    ],
)
def test_a_tls_file_that_cannot_serve_is_refused_with_the_reason(
    env: pytest.MonkeyPatch, pki: Pki, given: dict[str, str], expected: str
) -> None:
    folder = pki.ca.parent
    (folder / "encrypted.pem").write_text(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    (folder / "notes.txt").write_text("the CA is on the wiki\n")
    (folder / "garbled.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n"
    )
    paths = {k: getattr(pki, v, None) or folder / v for k, v in given.items()}
    assert expected.format(dir=folder) in refusal(**paths)


def test_a_server_name_without_tls_is_refused(env: pytest.MonkeyPatch) -> None:
    assert (
        "temporal.tls_server_name: TEMPORAL_TLS_SERVER_NAME is set but TLS is off: set "
        "TEMPORAL_TLS_CA to the PEM file of the private CA that signed the server's "
        "certificate (server-only TLS), or TEMPORAL_TLS=true"
    ) in refusal(tls_server_name="temporal.internal")
    assert "must be a host name as the server's certificate carries it" in refusal(
        tls=True, tls_server_name="https://temporal.internal:7233"
    )


def test_tls_turned_off_while_tls_material_is_given_is_refused(
    env: pytest.MonkeyPatch, pki: Pki
) -> None:
    env.setenv("TEMPORAL_TLS", "false")
    env.setenv("TEMPORAL_TLS_CA", str(pki.ca))
    env.setenv("TEMPORAL_API_KEY", "a-secret-key")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert (
        "temporal.tls: TEMPORAL_TLS=false, but TEMPORAL_TLS_CA and TEMPORAL_API_KEY need TLS "
        "(an API key is never sent in plaintext)"
    ) in message
    assert "a-secret-key" not in message


def test_a_ca_alone_turns_on_server_only_tls(env: pytest.MonkeyPatch, pki: Pki) -> None:
    env.setenv("TEMPORAL_TLS_CA", str(pki.ca))
    env.setenv("TEMPORAL_TLS_SERVER_NAME", SERVER_NAME)
    config = tls_config(load_settings().temporal)
    assert isinstance(config, TLSConfig)
    assert config.server_root_ca_cert == pki.ca.read_bytes()
    assert config.domain == SERVER_NAME
    assert config.client_cert is None and config.client_private_key is None


def test_tls_is_off_unless_asked_for_and_public_tls_uses_the_system_cas(
    env: pytest.MonkeyPatch,
) -> None:
    assert tls_config(load_settings().temporal) is False
    assert tls_config(load_settings(temporal={"tls": True}).temporal) is True
    assert tls_config(load_settings(temporal={"api_key": "k"}).temporal) is True


async def test_every_process_stops_at_start_on_half_configured_tls(pki: Pki) -> None:
    """The worker, the API and the CLI (setup) read the settings before anything else."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(OUTSIDE)}
    child_env["TEMPORAL_TLS_CERT"] = str(pki.client_cert)

    async def start(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            cwd=PROJECT_ROOT,
            env=child_env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode is not None
        return proc.returncode, err.decode()

    ran = await asyncio.gather(
        start("worker.py"), start("-m", "starter.api"), start("-m", "starter", "setup")
    )
    for code, err in ran:
        assert code != 0
        assert "temporal.tls_cert: TEMPORAL_TLS_CERT is set but TEMPORAL_TLS_KEY is not" in err


# ---- real TLS: a proxy with a private CA in front of the dev server ----


def _settings(address: str, **temporal: object) -> Settings:
    given = {k: str(v) if isinstance(v, Path) else v for k, v in temporal.items()}
    return load_settings(temporal={"address": address, "namespace": "default", **given})


async def _works(settings: Settings) -> None:
    """A round trip that writes: start a workflow, read it back, terminate it."""
    client = await asyncio.wait_for(connect(settings), 20)
    handle = await client.start_workflow(
        "TlsProbe", id=f"tls-{uuid.uuid4()}", task_queue=f"tq-{uuid.uuid4()}"
    )
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    await handle.terminate("TLS probe done")


async def _refused(settings: Settings) -> str:
    with pytest.raises(TemporalConnectError) as refused:
        await asyncio.wait_for(connect(settings), 20)
    return str(refused.value)


async def test_server_only_tls_with_a_private_ca_and_a_server_name_connects(
    dev_env: WorkflowEnvironment, pki: Pki
) -> None:
    upstream = dev_env.client.service_client.config.target_host
    async with tls_proxy(upstream, pki) as proxy:
        await _works(_settings(proxy.address, tls_ca=pki.ca, tls_server_name=SERVER_NAME))
        assert proxy.handshakes and set(proxy.handshakes) == {("", "h2")}


async def test_a_tls_mismatch_names_the_variable_to_change(
    dev_env: WorkflowEnvironment, pki: Pki
) -> None:
    upstream = dev_env.client.service_client.config.target_host
    async with tls_proxy(upstream, pki) as proxy:
        no_ca = await _refused(_settings(proxy.address, tls=True, tls_server_name=SERVER_NAME))
        assert no_ca.startswith(
            f"Temporal at {proxy.address}: the server's certificate is not signed by any CA "
            f"this system trusts: set TEMPORAL_TLS_CA to the PEM file of the CA that signed it"
        ), no_ca
        other_ca = await _refused(
            _settings(proxy.address, tls_ca=pki.other_ca, tls_server_name=SERVER_NAME)
        )
        assert f"not signed by the CA in {pki.other_ca}" in other_ca
        no_name = await _refused(_settings(proxy.address, tls_ca=pki.ca))
        assert (
            f"the server's certificate is not valid for 127.0.0.1 (it names {SERVER_NAME}): "
            f"set TEMPORAL_TLS_SERVER_NAME to the name it carries"
        ) in no_name
        plaintext = await _refused(_settings(proxy.address))
        assert "as a TLS-only server does: turn TLS on (TEMPORAL_TLS_CA" in plaintext
    tls_to_plain = await _refused(_settings(upstream, tls_ca=pki.ca, tls_server_name=SERVER_NAME))
    assert "the server does not answer TLS at this address: check TEMPORAL_ADDRESS" in (
        tls_to_plain
    )


async def test_mutual_tls_connects_with_a_client_certificate_and_fails_without(
    dev_env: WorkflowEnvironment, pki: Pki
) -> None:
    upstream = dev_env.client.service_client.config.target_host
    async with tls_proxy(upstream, pki, client_ca=pki.ca) as proxy:
        await _works(
            _settings(
                proxy.address,
                tls_ca=pki.ca,
                tls_server_name=SERVER_NAME,
                tls_cert=pki.client_cert,
                tls_key=pki.client_key,
            )
        )
        assert ("odb-worker", "h2") in proxy.handshakes
        without = await _refused(
            _settings(proxy.address, tls_ca=pki.ca, tls_server_name=SERVER_NAME)
        )
        assert (
            "as a server that requires mutual TLS does with a client that has no certificate: "
            "set TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY"
        ) in without


def test_a_session_the_server_closes_after_the_handshake_asks_for_a_client_certificate(
    pki: Pki,
) -> None:
    # The same refusal arrives in other words on a busy machine: the first call is cancelled
    # because the server closed the connection (seen in a clean-clone run of `make test`).
    closed = (
        "Failed client connect: `get_system_info` call error after connection: Status { code: "
        'Cancelled, message: "operation was canceled", source: Some(tonic::transport::Error('
        'Transport, hyper::Error(Canceled, "connection closed"))) }'
    )
    no_certificate = _settings("127.0.0.1:7233", tls_ca=pki.ca, tls_server_name=SERVER_NAME)
    hint = connect_hint(closed, no_certificate.temporal)
    assert hint is not None and "set TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY" in hint
