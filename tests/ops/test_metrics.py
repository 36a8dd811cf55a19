"""The worker's metrics endpoint serves the SDK metrics and the domain metrics, with the
right numbers for the seeded cases."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from devstack.ports import free_port
from ops.metrics import METRICS, start_domain_metrics
from tests.ops.conftest import Seeded, UiServer

pytestmark = pytest.mark.devserver

_LINE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    series = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m is None:
            continue
        labels = frozenset(
            (k, v.strip('"'))
            for k, v in (p.split("=", 1) for p in (m["labels"] or "").split(",") if p)
            if k != "service_name"
        )
        series[(m["name"], labels)] = float(m["value"])
    return series


def value(
    series: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return series.get((name, frozenset(labels.items())), 0.0)


async def test_domain_metrics_on_the_worker_endpoint(ops_server: UiServer, seeded: Seeded) -> None:
    port = free_port()
    # What worker.py does: one runtime serving /metrics, the client on it, the refresh task.
    runtime = Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}"))
    )
    client = await Client.connect(
        ops_server.client.service_client.config.target_host,
        namespace=ops_server.client.namespace,
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )
    task = start_domain_metrics(client)
    expected_removals = 1 + (seeded.soon_removal.last_day.year == seeded.today.year)

    def right(s: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> bool:
        return (
            value(s, "odb_cases", state="removal_scheduled") == 2
            and value(s, "odb_cases_waiting", waiting_for="nobody") == 1
        )

    try:
        async with httpx.AsyncClient() as http:
            deadline = asyncio.get_running_loop().time() + 20
            while True:  # the first refresh, and visibility, settle within seconds
                series = parse((await http.get(f"http://127.0.0.1:{port}/metrics")).text)
                if right(series) or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.5)
    finally:
        task.cancel()

    assert value(series, "odb_cases", state="under_review") == 3  # VOC x2 (2 providers), PC 200
    assert value(series, "odb_cases", state="refused") == 1
    assert value(series, "odb_cases", state="in_appeal") == 1
    assert value(series, "odb_cases", state="registered") == 0
    assert value(series, "odb_cases", state="removal_scheduled") == 2
    assert value(series, "odb_cases", state="ended") == 1  # withdrawn; terminated is not a state
    assert value(series, "odb_cases_waiting", waiting_for="reviewer") == 3
    assert value(series, "odb_cases_waiting", waiting_for="provider") == 2  # two open windows
    assert value(series, "odb_cases_waiting", waiting_for="bec") == 1
    assert value(series, "odb_cases_waiting", waiting_for="nobody") == 1
    assert value(series, "odb_appeals_overdue") == 1
    assert value(series, "odb_appeal_windows_closing_this_week") == 0  # 10 and 30 days away
    assert value(series, "odb_removals_due_this_year") == expected_removals
    assert value(series, "odb_cases_failed_or_stuck") == 1
    assert value(series, "odb_screenings_running") == 0
    assert value(series, "odb_ops_metrics_refreshed_at") > 1_700_000_000
    for metric in METRICS:
        if metric.name != "odb_screening_trainings":  # only while a screening runs
            assert any(name == metric.name for name, _ in series), metric.name
    # The SDK's own metrics come from the same endpoint.
    assert any(name.startswith("temporal_request") for name, _ in series)
