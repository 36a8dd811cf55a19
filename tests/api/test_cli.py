"""The command line, run as ops run it (`python -m starter ...`), against the same servers."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from runtime.settings import PROJECT_ROOT
from tests.fixtures.api import Api, application_body


async def _cli(api: Api, *args: str) -> tuple[int, str, str]:
    settings = api.settings
    env = {
        **os.environ,
        "DATABASE_URL": settings.postgres.url or "",
        "ODB_TEMPORAL__ADDRESS": api.env.client.service_client.config.target_host,
        "ODB_TEMPORAL__NAMESPACE": api.env.client.namespace,
        "ODB_TEMPORAL__TASK_QUEUE": settings.temporal.task_queue,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "starter",
        *args,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_submit_show_and_decide_from_the_command_line(api: Api, tmp_path: Path) -> None:
    file = tmp_path / "application.json"
    file.write_text(json.dumps(application_body()))
    code, out, err = await _cli(api, "submit", str(file))
    assert code == 0, err
    dossier = out.split()[0]
    assert dossier.startswith("ODB-")

    code, again, err = await _cli(api, "submit", str(file))
    assert code == 0, err
    assert again.split()[0] == dossier  # the same file twice: one dossier
    assert "already submitted" in again

    code, out, err = await _cli(api, "decide", dossier, "--approve")
    assert code == 0, err
    assert json.loads(out)["state"] == "registered"

    code, out, err = await _cli(api, "appeal", dossier, "--motivation", "waarom niet")
    assert code == 3
    assert "refused (InvalidState)" in err


async def test_cli_names_an_unknown_dossier(api: Api) -> None:
    code, _, err = await _cli(api, "show", "ODB-1999-999998")
    assert code == 3
    assert "ODB-1999-999998" in err
