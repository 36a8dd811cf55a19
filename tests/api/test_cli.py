"""The command line, run as ops run it (`python -m starter ...`), against the same servers."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.api import ORG, Api, application_body, cli


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


async def test_the_command_line_acting_for_the_provider_decides_nothing_of_its_dossier(
    api: Api,
) -> None:
    registered = await api.case_in("registered")
    in_appeal = await api.case_in("in_appeal")
    for dossier, args in (
        (registered, ["revoke", "--reason", "Voldoet niet meer aan de criteria."]),
        (in_appeal, ["hearing", "--role", "bec", "--side", "provider"]),
    ):
        # The organisation as people type it: dots and BE are the same organisation.
        code, _, err = await cli(api, args[0], dossier, "--org", "BE 0123.456.749", *args[1:])
        assert code == 3, err
        assert err.startswith(
            f"refused (Conflict): conflict of interest: you also act for organisation {ORG}, "
            f"the provider of {dossier}; "
        ), err
    # The department, acting for no organisation, revokes it.
    code, out, err = await cli(api, "revoke", registered, "--reason", "Voldoet niet meer.")
    assert code == 0, err
    assert json.loads(out)["end_reason"] == "revoked"
    code, _, err = await cli(api, "revoke", in_appeal, "--org", "0123.456.748", "--reason", "x")
    assert code == 2 and "mod-97" in err
