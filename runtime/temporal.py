"""The one way this system connects to Temporal: pydantic data converter, settings-driven
address, namespace, TLS and API key (so a real cluster or Temporal Cloud needs no code).
The TLS settings are checked when they are read (runtime/settings.py: TemporalSettings);
a TLS mismatch with the server is explained here, naming the variable to change."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, TLSConfig
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from runtime.settings import Settings, TemporalSettings, env_name


class TemporalConnectError(RuntimeError):
    """The client could not connect for a reason the settings can fix; the message names
    the variable. A RuntimeError, as the SDK's own connect failures are, so callers that
    handle those (the API's 503) handle this one too."""


def tls_config(t: TemporalSettings) -> TLSConfig | bool:
    """The SDK's TLS argument for the settings (validated when they were read): False,
    True (the system's CAs: Temporal Cloud, a publicly trusted certificate), or the files
    and server name given."""
    if not t.tls_enabled:
        return False
    if not (t.tls_ca or t.tls_server_name or t.tls_cert):
        return True
    return TLSConfig(
        server_root_ca_cert=t.tls_ca.read_bytes() if t.tls_ca else None,
        # SNI, HTTP/2 authority and the name checked in the server's certificate.
        domain=t.tls_server_name,
        client_cert=t.tls_cert.read_bytes() if t.tls_cert else None,
        client_private_key=t.tls_key.read_bytes() if t.tls_key else None,
    )


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    t = settings.temporal
    try:
        return await Client.connect(
            t.address,
            namespace=t.namespace,
            data_converter=pydantic_data_converter,
            tls=tls_config(t),
            api_key=t.api_key,
            runtime=runtime,
        )
    except RuntimeError as exc:
        hint = connect_hint(str(exc), t)
        if hint is None:
            raise
        raise TemporalConnectError(f"Temporal at {t.address}: {hint} (client: {exc})") from exc


# Core reports a failed TLS connection as a Rust debug string; these are the marks of the
# failures a setting can fix.
_PRESENTED = re.compile(r'DnsName\(\\?"([^"\\]+)')
_CLOSED_EARLY = ("close_notify", "CertificateRequired", "HandshakeFailure", "connection closed")
_BROKEN = ("BrokenPipe", "broken pipe", "ConnectionReset", "connection reset")


def connect_hint(error: str, t: TemporalSettings) -> str | None:
    """What to change when `error` (Client.connect's) is a TLS mismatch, else None."""
    env = functools.partial(env_name, "temporal")
    if "UnknownIssuer" in error:
        trusted = f"the CA in {t.tls_ca}" if t.tls_ca else "any CA this system trusts"
        return (
            f"the server's certificate is not signed by {trusted}: set {env('tls_ca')} to the "
            f"PEM file of the CA that signed it"
        )
    if "NotValidForName" in error:
        names = ", ".join(_PRESENTED.findall(error)) or "other names"
        return (
            f"the server's certificate is not valid for {t.tls_server_name or t.host} (it "
            f"names {names}): set {env('tls_server_name')} to the name it carries"
        )
    if "InvalidContentType" in error:
        return (
            f"the server does not answer TLS at this address: check {env('address')}, or "
            f"turn TLS off for a plaintext server (unset {env('tls')}, {env('tls_ca')}, "
            f"{env('tls_cert')}, {env('tls_key')})"
        )
    # With TLS 1.3 the client finishes its handshake before the server has checked the
    # (missing) client certificate: the refusal then arrives as a broken connection.
    if t.tls_enabled and not t.tls_cert and any(m in error for m in (*_CLOSED_EARLY, *_BROKEN)):
        return (
            f"the server ended the TLS session right after the handshake, as a server "
            f"that requires mutual TLS does with a client that has no certificate: set "
            f"{env('tls_cert')} and {env('tls_key')} to this client's certificate and key"
        )
    if not t.tls_enabled and any(m in error for m in _BROKEN):
        return (
            f"the server broke off the plaintext connection, as a TLS-only server does: turn "
            f"TLS on ({env('tls_ca')} for a private CA, {env('tls')}=true for a publicly "
            f"trusted certificate)"
        )
    return None


async def add_missing_search_attributes(
    client: Client, namespace: str, keys: Iterable[SearchAttributeKey[Any]]
) -> list[str]:
    """Registers the custom search attributes the namespace lacks and returns their names.
    The dev server registers its `--search-attribute` flags only when it creates its
    database; a state folder from before an attribute was added needs this, or the first
    case that sets it fails its workflow task."""
    have = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {key.name: key for key in keys if key.name not in have.custom_attributes}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes={
                    name: IndexedValueType.ValueType(key.indexed_value_type)
                    for name, key in missing.items()
                },
            )
        )
    return sorted(missing)
