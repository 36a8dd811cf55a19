"""The one way this system connects to Temporal: pydantic data converter, settings-driven
address, namespace, TLS and API key (so a real cluster or Temporal Cloud needs no code)."""

from __future__ import annotations

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from runtime.settings import Settings


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    t = settings.temporal
    tls: TLSConfig | bool = False
    if t.tls_cert and t.tls_key:
        tls = TLSConfig(
            client_cert=t.tls_cert.read_bytes(), client_private_key=t.tls_key.read_bytes()
        )
    elif t.api_key:
        tls = True
    return await Client.connect(
        t.address,
        namespace=t.namespace,
        data_converter=pydantic_data_converter,
        tls=tls,
        api_key=t.api_key,
        runtime=runtime,
    )
