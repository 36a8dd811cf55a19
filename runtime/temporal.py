"""The one way this system connects to Temporal: pydantic data converter, settings-driven
address, namespace, TLS and API key (so a real cluster or Temporal Cloud needs no code)."""

from __future__ import annotations

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
