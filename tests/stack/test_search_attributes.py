"""A state folder from before a search attribute was added gets it at the next start."""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

from models import search
from runtime.temporal import add_missing_search_attributes


async def test_only_the_missing_search_attributes_are_added(dev_env: WorkflowEnvironment) -> None:
    client, namespace = dev_env.client, dev_env.client.namespace
    wanted: list[SearchAttributeKey[Any]] = [
        *search.ALL,
        SearchAttributeKey.for_keyword("OdbProbeAddedLater"),
    ]
    assert await add_missing_search_attributes(client, namespace, wanted) == ["OdbProbeAddedLater"]
    assert await add_missing_search_attributes(client, namespace, wanted) == []
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    added = listed.custom_attributes["OdbProbeAddedLater"]
    assert added == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    assert listed.custom_attributes["OdbScreenedYear"] == IndexedValueType.INDEXED_VALUE_TYPE_INT
