"""Workflow code imports contracts and pure rules only: no database driver, SMTP, templates,
HTTP client, logging bridge or settings can be reached from a workflow module. That is what
makes passing the workflow modules through the sandbox (worker.py) safe by construction."""

from __future__ import annotations

import subprocess
import sys

import pytest

from runtime.settings import PROJECT_ROOT

WORKFLOW_MODULES = sorted(
    f"workflows.{path.stem}"
    for path in (PROJECT_ROOT / "workflows").glob("*.py")
    if path.stem != "__init__"
)
FORBIDDEN = ["asyncpg", "smtplib", "jinja2", "httpx", "structlog.stdlib", "runtime.settings"]


@pytest.mark.parametrize("module", WORKFLOW_MODULES)
def test_a_workflow_module_loads_no_io(module: str) -> None:
    probe = f"import sys, {module}; print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))"
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == "", f"{module} loads {found}: import the contract or rule, not the module"
