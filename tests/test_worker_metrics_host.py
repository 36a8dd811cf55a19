"""The worker's Prometheus endpoint listens where `worker.metrics_host` says (loopback by
default; 0.0.0.0 for a scraper on another host), and a host that is not an IP address is
refused at start."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from devstack.ports import free_port
from runtime.settings import ConfigError, load_settings
from worker import make_runtime


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return int(answer.status)


def test_the_metrics_endpoint_listens_on_the_configured_address() -> None:
    # 127.0.0.2 is loopback too on Linux, yet not the default 127.0.0.1: an answer there and
    # none on 127.0.0.1 shows the setting is what the exporter binds.
    port = free_port()
    settings = load_settings(worker={"metrics_host": "127.0.0.2", "metrics_port": port})
    runtime = make_runtime(settings)
    assert runtime is not None
    assert _get(f"http://127.0.0.2:{port}/metrics") == 200
    with pytest.raises(urllib.error.URLError):
        _get(f"http://127.0.0.1:{port}/metrics")


def test_the_default_is_loopback_and_ipv6_is_bracketed() -> None:
    assert load_settings().worker.metrics_bind.startswith("127.0.0.1:")
    assert load_settings(
        worker={"metrics_host": "::", "metrics_port": 9464}
    ).worker.metrics_bind == ("[::]:9464")


def test_a_metrics_host_that_is_not_an_ip_address_is_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(worker={"metrics_host": "metrics.internal"})
    assert (
        "worker.metrics_host: Value error, must be an IP address to listen on: 127.0.0.1 "
        "(this host only), 0.0.0.0 (every IPv4 interface) or :: (every interface) "
        "(got 'metrics.internal')"
    ) in str(refused.value)
