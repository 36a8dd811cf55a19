"""The providers register: the department registers, updates, deactivates and reactivates an
organisation through the API and the command line, each change audited; a deactivated
provider cannot submit while its running cases go on; the name printed is the register's."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import httpx
import pytest

from activities.archives import verify
from starter.api.app import create_app
from starter.cli import main as cli_main
from tests.documents.test_documents import pdf, upload
from tests.fixtures.api import ORG, Api, brussels_today, cli, over_http

NEW_ORG = "0417497106"  # valid mod-97, registered by the tests below


async def test_the_department_registers_updates_and_reads_a_provider(api: Api) -> None:
    body = {"name": "Nieuwe Opleider bv", "contact_email": "info@nieuw.example.be"}
    dept = api.auth("department")
    first = await api.http.put(f"/providers/{NEW_ORG}", json=body, headers=dept)
    assert first.status_code in (200, 201), first.text
    again = await api.http.put("/providers/0417.497.106", json=body, headers=dept)
    assert (again.status_code, again.json()["created"]) == (200, False)
    renamed = await api.http.put(
        f"/providers/{NEW_ORG}", json={**body, "name": "Nieuwe Opleider nv"}, headers=dept
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Nieuwe Opleider nv"

    record = (await api.http.get(f"/providers/{NEW_ORG}", headers=dept)).json()
    assert record["changes"][-1]["change"] == "updated"
    assert record["changes"][-1]["by"] == "user-department"
    assert [c["change"] for c in record["changes"]].count("updated") >= 1
    listed = await api.http.get("/providers", headers=dept)
    assert NEW_ORG in {p["enterprise_number"] for p in listed.json()}

    own = await api.http.get(f"/providers/{ORG}", headers=api.auth("provider"))
    assert own.status_code == 200, own.text
    assert all(c["by"] == "department" for c in own.json()["changes"])
    for persona, status in (("other_provider", 404), ("voc_reviewer", 403), ("bec", 403)):
        answer = await api.http.get(f"/providers/{ORG}", headers=api.auth(persona))
        assert answer.status_code == status, (persona, answer.text)
    for persona in ("provider", "bec", "voc_reviewer"):
        refused = await api.http.put(f"/providers/{NEW_ORG}", json=body, headers=api.auth(persona))
        assert refused.status_code == 403, (persona, refused.text)


async def test_bad_provider_input_is_refused_by_name(api: Api) -> None:
    dept = api.auth("department")
    good = {"name": "Opleider", "contact_email": "a@b.be"}
    cases = [
        ("0123456700", good, "enterprise_number"),  # mod-97 fails
        (NEW_ORG, {**good, "name": " "}, "name"),
        (NEW_ORG, {**good, "contact_email": "geen-adres"}, "contact_email"),
        (NEW_ORG, {**good, "extra": 1}, "extra"),
    ]
    for number, body, field in cases:
        answer = await api.http.put(f"/providers/{number}", json=body, headers=dept)
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == field, answer.text
    missing = await api.http.post(
        "/providers/0203201340/deactivate", json={"reason": ""}, headers=dept
    )
    assert missing.status_code == 422 and missing.json()["field"] == "reason"


async def test_a_deactivated_provider_cannot_submit_and_its_cases_go_on(api: Api) -> None:
    running = await api.case_in("under_review")
    dept = api.auth("department")
    off = await api.http.post(
        f"/providers/{ORG}/deactivate", json={"reason": "erkenning ingetrokken"}, headers=dept
    )
    assert off.status_code == 200 and off.json()["active"] is False, off.text
    try:
        refused = await api.submit()
        assert refused.status_code == 409, refused.text
        assert refused.json()["field"] == "provider"
        assert "deactivated" in refused.json()["detail"]
        decided = await api.act(running, "review-decision", "voc_reviewer", {"approve": True})
        assert decided.status_code == 200 and decided.json()["state"] == "registered"
    finally:
        on = await api.http.post(f"/providers/{ORG}/reactivate", headers=dept)
        assert on.status_code == 200 and on.json()["active"] is True
    assert (await api.submit()).status_code == 201


async def test_the_name_printed_is_the_registers_not_the_requests(api: Api) -> None:
    dossier = await api.case_in("registered", provider_name="Een Ander Zijn Naam nv")
    export = await api.http.get(
        "/open-data/registered.csv",
        params={"on": brussels_today().isoformat()},
        headers=api.auth("provider"),
    )
    rows = {r["dossier"]: r for r in csv.DictReader(io.StringIO(export.text))}
    registered = (await api.http.get(f"/providers/{ORG}", headers=api.auth("provider"))).json()
    assert rows[dossier]["provider_name"] == registered["name"]
    assert "Een Ander Zijn Naam" not in export.text


async def test_providers_from_the_command_line(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m starter providers ...` as ops run it: the first call as its own process,
    the rest through the same entry point in this process (the same code, without paying a
    Python start-up per command)."""
    code, out, err = await cli(
        api,
        "providers",
        "register",
        "BE 0417.497.106",
        "--name",
        "Nieuwe Opleider nv",
        "--contact-email",
        "info@nieuw.example.be",
        "--subject",
        "an.ops",
    )
    assert code == 0, err
    monkeypatch.setenv("DATABASE_URL", api.settings.postgres.url or "")

    async def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = await asyncio.to_thread(cli_main.main, ["providers", *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    code, out, err = await run("deactivate", NEW_ORG, "--reason", "gestopt")
    assert code == 0 and "deactivated" in out, err
    code, out, err = await run("reactivate", NEW_ORG)
    assert code == 0, err
    code, out, err = await run("show", NEW_ORG)
    assert code == 0 and '"deactivated"' in out and '"reactivated"' in out, err
    with pytest.raises(SystemExit) as refused:
        await run("register", "0123456700", "--name", "X y", "--contact-email", "a@b.be")
    assert refused.value.code == 2 and "mod-97" in capsys.readouterr().err
    code, out, err = await run("deactivate", "0203201340", "--reason", "")
    assert code == 2 and "reason" in err


async def test_an_organisations_export_holds_its_loose_uploads_and_the_cli_writes_the_same(
    api: Api, tmp_path: Path
) -> None:
    """The export (API and command line) holds every dossier and also the documents the
    organisation uploaded that no dossier names yet; an unknown organisation gets a 404 and
    leaves no file behind."""
    dept = api.auth("department")
    content = pdf("nog aan geen beroep gekoppeld")
    uploaded = await upload(api, content, name="los.pdf")
    assert uploaded.status_code == 201, uploaded.text
    loose = uploaded.json()["id"]

    leftovers = set(Path(tempfile.gettempdir()).glob("odb-export-*"))
    unknown = await api.http.get("/providers/1234567894/export", headers=dept)
    assert unknown.status_code == 404, unknown.text
    assert set(Path(tempfile.gettempdir()).glob("odb-export-*")) == leftovers

    answer = await api.http.get(f"/providers/{ORG}/export", headers=dept)
    assert answer.status_code == 200, answer.text
    digest = base64.b64encode(hashlib.sha256(answer.content).digest()).decode()
    assert answer.headers["Repr-Digest"] == f"sha-256=:{digest}:"
    from_api = tmp_path / "api.zip"
    from_api.write_bytes(answer.content)
    from_cli = tmp_path / "cli.zip"
    code, out, err = await cli(api, "providers", "export", ORG, "-o", str(from_cli))
    assert code == 0 and "parts, SHA-256" in out, err
    for path in (from_api, from_cli):
        assert verify(path) == [], path
        with zipfile.ZipFile(path) as z:
            listed = json.loads(z.read("provider.json"))
            assert loose in {d["id"] for d in listed["documents"]}, path
            assert z.read(f"documents/{loose}.pdf") == content
            assert all(f"dossiers/{d}/dossier.json" in z.namelist() for d in listed["dossiers"])
    nowhere = tmp_path / "none.zip"
    code, out, _ = await cli(api, "providers", "export", "1234567894", "-o", str(nowhere))
    assert code == 1 and "no provider 1234567894" in out and not nowhere.exists()


async def test_an_export_whose_download_is_abandoned_leaves_no_file(api: Api) -> None:
    """The department's client goes away after the first bytes of a large export: the
    temporary file is gone all the same (the ZIP may be gigabytes; the API's disk is not
    the archive)."""
    for n in range(10):  # random bytes do not compress: an export of several megabytes
        content = b"%PDF-1.7\n" + os.urandom(3 << 20) + f"\n{n}\n%%EOF\n".encode()
        assert (await upload(api, content, name=f"groot-{n}.pdf")).status_code == 201
    leftovers = set(Path(tempfile.gettempdir()).glob("odb-export-*"))
    app = create_app(api.settings, client=api.env.client, pool=api.pool)
    async with (
        over_http(app) as url,
        httpx.AsyncClient(base_url=url, timeout=60) as http,
        http.stream(
            "GET", f"/providers/{ORG}/export", headers=api.auth("department")
        ) as answer,
    ):
        assert answer.status_code == 200
        async for _ in answer.aiter_raw(1 << 16):
            break  # the first bytes, then the client hangs up
    # The server notices the hang-up when it next writes: polled, within 10 s.
    deadline = asyncio.get_running_loop().time() + 10
    while (now := set(Path(tempfile.gettempdir()).glob("odb-export-*"))) != leftovers:
        assert asyncio.get_running_loop().time() < deadline, f"left behind: {now - leftovers}"
        await asyncio.sleep(0.05)
