"""A cursor signed with the server's own key but holding a position of the wrong shape (a sort
key that is no time, a day that does not exist, too few or too many parts, a NUL) is a 422
naming `cursor`, as a forged one is: never a failed query (500) nor an outage (503)."""

from __future__ import annotations

import pytest

from starter import cursors
from tests.fixtures.api import ORG, Api

WHEN = "2027-03-01T10:00:00+00:00"
DOSSIER = "ODB-2027-000001"

# (persona, list, parameter, sort key): each signed as the server signs its cursors.
WORKLIST_CURSORS = [
    ("voc_reviewer", "waiting-for-reviewer", "VOC", ("not a time", DOSSIER)),
    ("voc_reviewer", "waiting-for-reviewer", "VOC", ("2027-03-01T10:00:00", DOSSIER)),
    ("voc_reviewer", "waiting-for-reviewer", "VOC", (WHEN,)),
    ("voc_reviewer", "waiting-for-reviewer", "VOC", (WHEN, DOSSIER, "extra")),
    ("voc_reviewer", "waiting-for-reviewer", "VOC", ()),
    ("voc_reviewer", "waiting-for-reviewer", "VOC", (WHEN, "ODB\x00")),
    ("bec", "waiting-for-bec", None, ("maybe", "2027-03-01", DOSSIER)),
    ("bec", "waiting-for-bec", None, ("true", "2027-02-30", DOSSIER)),
    ("department", "appeals-overdue", None, ("2027-03-01", DOSSIER, DOSSIER)),
    ("department", "failed-or-stuck", None, ("2027-03-01T10:00:00+99:00", DOSSIER)),
    ("provider", "appeal-windows-of-provider", ORG, ("9" * 400, DOSSIER)),
    ("voc_reviewer", "no-such-list", "VOC", (WHEN, DOSSIER)),
]


@pytest.mark.parametrize(("persona", "name", "parameter", "key"), WORKLIST_CURSORS)
async def test_a_signed_worklist_cursor_of_the_wrong_shape_is_422(
    api: Api, persona: str, name: str, parameter: str | None, key: tuple[str, ...]
) -> None:
    cursor = cursors.encode(api.settings, "worklist", name, parameter, key)
    answer = await api.http.get("/worklist", params={"cursor": cursor}, headers=api.auth(persona))
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "cursor"
    assert answer.json()["detail"].startswith("cursor: ")


@pytest.mark.parametrize(
    "key",
    [("yesterday", DOSSIER), (WHEN,), (WHEN, DOSSIER, DOSSIER), ("2027-03-01", DOSSIER)],
)
async def test_a_signed_dossier_list_cursor_of_the_wrong_shape_is_422(
    api: Api, key: tuple[str, ...]
) -> None:
    cursor = cursors.encode(api.settings, "dossiers", ORG, None, key)
    answer = await api.http.get(
        "/dossiers", params={"cursor": cursor}, headers=api.auth("provider")
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "cursor"


async def test_a_signed_cursor_of_the_right_shape_still_pages(api: Api) -> None:
    """The check reads what the server writes: a well-formed position gives a page."""
    for persona, name, parameter, key in [
        ("voc_reviewer", "waiting-for-reviewer", "VOC", (WHEN, DOSSIER)),
        ("bec", "waiting-for-bec", None, ("false", "2027-03-01", DOSSIER)),
    ]:
        cursor = cursors.encode(api.settings, "worklist", name, parameter, key)
        answer = await api.http.get(
            "/worklist", params={"cursor": cursor}, headers=api.auth(persona)
        )
        assert answer.status_code == 200, answer.text
    cursor = cursors.encode(api.settings, "dossiers", ORG, None, (WHEN, DOSSIER))
    answer = await api.http.get(
        "/dossiers", params={"cursor": cursor}, headers=api.auth("provider")
    )
    assert answer.status_code == 200, answer.text
