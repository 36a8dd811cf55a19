"""The command line, run as ops run it (`python -m starter ...`), against the same servers."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.api import Api, application_body, cli


async def test_submit_show_and_decide_from_the_command_line(api: Api, tmp_path: Path) -> None:
    file = tmp_path / "application.json"
    file.write_text(json.dumps(application_body()))
    code, out, err = await cli(api, "submit", str(file))
    assert code == 0, err
    dossier = out.split()[0]
    assert dossier.startswith("ODB-")

    code, again, err = await cli(api, "submit", str(file))
    assert code == 0, err
    assert again.split()[0] == dossier  # the same file twice: one dossier
    assert "already submitted" in again

    code, out, err = await cli(api, "decide", dossier, "--approve")
    assert code == 0, err
    assert json.loads(out)["state"] == "registered"

    code, out, err = await cli(api, "appeal", dossier, "--motivation", "waarom niet")
    assert code == 3
    assert "refused (InvalidState)" in err


async def test_cli_names_an_unknown_dossier(api: Api) -> None:
    code, _, err = await cli(api, "show", "ODB-1999-999998")
    assert code == 3
    assert "ODB-1999-999998" in err
