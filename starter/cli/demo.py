"""`python -m starter demo`: plays a realistic mix of cases through the running portal API,
so a newcomer finds cases in every state in the Temporal Web UI within a minute.

Providers are seeded in the registry first; tokens are minted with the dev secret. The one
step that is no user action (a negative yearly screening) is sent as the screening would
send it: a signal to the case.

For the yearly screening (`python -m starter screen now --follow` next) it also seeds three
trainings registered three years ago, with their cases, whose activity in the data year
makes one pass, one fail and one incomplete; the cases played above were registered today,
so that screening reports them "not yet due" (starter/cli/demo_data.py).
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from models import search
from models.case import CaseState, ScreeningOutcome
from registry import providers
from runtime.settings import Settings, load_settings
from starter.auth import mint_dev_token
from starter.cli import demo_data
from starter.cli.main import out
from starter.client import CaseService, start_details, summary
from starter.registry_reads import create_pool
from workflows.application import ApplicationWorkflow

PROVIDERS = {
    "0123456749": ("Opleidingscentrum Vooruit vzw", "dossiers@vooruit.example.be"),
    "0203201340": ("Syntra Demo vzw", "opleidingen@syntra-demo.example.be"),
}

Step = tuple[str, str, dict[str, Any]]  # (endpoint, persona, body)

REFUSE: Step = (
    "review-decision",
    "reviewer",
    {"approve": False, "reason": "De arbeidsmarktgerichtheid is onvoldoende aangetoond."},
)
APPEAL: Step = (
    "appeal",
    "provider",
    {"motivation": "De opleiding leidt tot een knelpuntberoep; zie bijgevoegde cijfers."},
)
HEARINGS: list[Step] = [
    ("hearing", "bec", {"side": "provider", "note": "Opleider gehoord."}),
    ("hearing", "bec", {"side": "department", "note": "Departement gehoord."}),
]
APPROVE: Step = ("review-decision", "reviewer", {"approve": True})

# (title, provider, joint committee, days until start, steps, screening negative)
CASES: list[tuple[str, str, str | None, int, list[Step], bool]] = [
    ("Heftruckchauffeur basisopleiding", "0123456749", None, 150, [], False),
    ("Zorgkundige in de thuiszorg", "0203201340", "PC 330", 40, [], False),
    ("Lassen TIG en MIG", "0123456749", None, 120, [APPROVE], False),
    ("Boekhouden voor kmo's", "0203201340", "PC 200", 100, [REFUSE], False),
    ("Digitale marketing", "0123456749", None, 130, [REFUSE, APPEAL], False),
    (
        "Elektrotechniek BA4/BA5",
        "0123456749",
        "PC 124",
        140,
        [
            REFUSE,
            APPEAL,
            *HEARINGS,
            ("bec-decision", "bec", {"granted": True, "reason": "Beroep gegrond: knelpuntberoep."}),
        ],
        False,
    ),
    (
        "Projectmanagement in de bouw",
        "0203201340",
        None,
        160,
        [
            REFUSE,
            APPEAL,
            *HEARINGS,
            ("bec-decision", "bec", {"granted": False, "reason": "Beroep ongegrond."}),
        ],
        False,
    ),
    (
        "Veiligheidscoördinator",
        "0203201340",
        None,
        135,
        [
            REFUSE,
            (
                "appeal-by-email",
                "bec",
                {
                    "received_at": "{now}",
                    "motivation": "Beroepschrift ontvangen per e-mail.",
                    "document_id": "{upload}",
                },
            ),
        ],
        False,
    ),
    ("Barista-opleiding", "0123456749", None, 95, [("withdraw", "provider", {})], False),
    (
        "Python voor data-analyse",
        "0203201340",
        "PC 200",
        110,
        [APPROVE, ("stop", "provider", {"reason": "Niet langer aangeboden."})],
        False,
    ),
    (
        "Vastgoedmakelaar",
        "0123456749",
        None,
        120,
        [APPROVE, ("revoke", "department", {"reason": "Voldoet niet langer aan de criteria."})],
        False,
    ),
    ("Kraanmachinist", "0203201340", "PC 124", 125, [APPROVE], True),
]


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="play a mix of cases through the running API")
    demo.add_argument("--api", help="base URL (default: http://api.host:api.port)")
    demo.set_defaults(run=run)


def _headers(settings: Settings, persona: str, org: str, body: str | None) -> dict[str, str]:
    roles = {
        "provider": ("provider",),
        "reviewer": (f"reviewer:{body or 'VOC'}",),
        "bec": ("bec",),
        "department": ("department",),
    }[persona]
    token = mint_dev_token(
        settings,
        f"demo-{persona}",
        org=org if persona == "provider" else None,
        roles=roles,
        ttl_seconds=600,
    )
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}


async def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    base = args.api or f"http://{settings.api.host}:{settings.api.port}"
    pool = await create_pool(settings)
    try:
        for number, (name, email) in PROVIDERS.items():
            await providers.upsert(pool, number, name, email)
        await _due_for_screening(settings, pool)
    finally:
        await pool.close()
    failures = 0
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for title, org, body, days, steps, negative in CASES:
            failures += await _play(http, settings, title, org, body, days, steps)
            if negative:
                failures += await _negative_screening(settings, http, title, org)
        failures += await _resubmission(http, settings)
    out(
        f"\nOpen the Temporal Web UI: http://{settings.temporal.host}:{settings.temporal.ui_port}"
        f"/namespaces/{settings.temporal.namespace}/workflows"
    )
    return 1 if failures else 0


async def _play(
    http: httpx.AsyncClient,
    settings: Settings,
    title: str,
    org: str,
    body: str | None,
    days: int,
    steps: list[Step],
) -> int:
    name, email = PROVIDERS[org]
    application = {
        "provider": org,
        "provider_name": name,
        "contact_email": email,
        "title": title,
        "description": f"Demo-opleiding: {title}.",
        "start_date": (date.today() + timedelta(days=days)).isoformat(),
        "volume": "60",
        "volume_unit": "contact_hours",
        "joint_committee": body,
    }
    response = await http.post(
        "/applications", json=application, headers=_headers(settings, "provider", org, body)
    )
    if response.status_code >= 300:
        out(f"{title}: submit refused: {response.status_code} {response.text}")
        return 1
    dossier = response.json()["dossier"]
    state = "under_review"
    for path, persona, data in steps:
        # An e-mailed appeal is registered with the moment it was received: just now.
        data = {k: (_now() if v == "{now}" else v) for k, v in data.items()}
        if data.get("document_id") == "{upload}":  # the e-mail's attachment, stored first
            data["document_id"] = await _upload_motivation(http, settings, persona, org, title)
        done = await http.post(
            f"/dossiers/{dossier}/{path}",
            json=data,
            headers=_headers(settings, persona, org, body),
        )
        if done.status_code != 200:
            out(f"{dossier} {title}: {path} refused: {done.json().get('detail', done.text)}")
            return 1
        state = done.json()["state"]
    out(f"{dossier}  {state:<18} {title}")
    _DOSSIERS[title] = dossier
    return 0


_DOSSIERS: dict[str, str] = {}


async def _upload_motivation(
    http: httpx.AsyncClient, settings: Settings, persona: str, org: str, title: str
) -> str:
    content = (
        b"%PDF-1.4\n% Beroepschrift (demo)\n"
        + f"Beroep tegen de weigering van {title}.\n".encode()
        + b"%%EOF\n"
    )
    headers = _headers(settings, persona, org, None)
    headers.pop("Idempotency-Key")
    response = await http.post(
        "/documents",
        files={"file": ("beroepschrift.pdf", content, "application/pdf")},
        headers=headers,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def _now() -> str:
    return datetime.now(ZoneInfo("Europe/Brussels")).isoformat()


async def _resubmission(http: httpx.AsyncClient, settings: Settings) -> int:
    """The negatively screened training, adjusted and submitted again: approved, it takes
    over the old registration (which ends the day before)."""
    old = _DOSSIERS.get("Kraanmachinist")
    if old is None:
        return 1
    org, body = "0203201340", "PC 124"
    name, email = PROVIDERS[org]
    application = {
        "provider": org,
        "provider_name": name,
        "contact_email": email,
        "title": "Kraanmachinist (aangepast)",
        "start_date": (date.today() + timedelta(days=150)).isoformat(),
        "volume": "80",
        "volume_unit": "contact_hours",
        "joint_committee": body,
        "predecessor_dossier": old,
    }
    response = await http.post(
        "/applications", json=application, headers=_headers(settings, "provider", org, body)
    )
    if response.status_code >= 300:
        out(f"resubmission of {old} refused: {response.status_code} {response.text}")
        return 1
    new = response.json()["dossier"]
    done = await http.post(
        f"/dossiers/{new}/review-decision",
        json={"approve": True},
        headers=_headers(settings, "reviewer", org, body),
    )
    if done.status_code != 200:
        out(f"{new}: approval refused: {done.json().get('detail', done.text)}")
        return 1
    out(f"{new}  {done.json()['state']:<18} Kraanmachinist (aangepast): replaces {old}")
    return 0


async def screen_negative(settings: Settings, dossier: str) -> None:
    """A negative yearly screening of `dossier`, sent as the screening sends it: a signal to
    the case (which schedules the removal)."""
    client = await CaseService(settings).client()
    # The screening's day where it runs (Brussels), not the machine's: near midnight they differ.
    today = datetime.now(ZoneInfo(settings.screening.timezone)).date()
    await client.get_workflow_handle(dossier).signal(
        ApplicationWorkflow.screening_outcome,
        ScreeningOutcome(
            year=today.year,
            passed=False,
            outcome="failed",
            score=41.0,
            rubric_version="example-2027",
            remarks="De opleiding werd het afgelopen jaar niet georganiseerd.",
            notified_on=today,
            result_id=f"demo-{dossier}",
        ),
    )


async def _negative_screening(
    settings: Settings, http: httpx.AsyncClient, title: str, org: str
) -> int:
    dossier = _DOSSIERS.get(title)
    if dossier is None:
        return 1
    await screen_negative(settings, dossier)
    # A signal is handled asynchronously: wait (briefly) until the case shows it.
    state = "?"
    for _ in range(40):
        status = await http.get(
            f"/dossiers/{dossier}", headers=_headers(settings, "department", org, None)
        )
        state = status.json().get("state", "?")
        if state == "removal_scheduled":
            break
        await asyncio.sleep(0.25)
    out(f"{dossier}  {state:<18} {title} (negative screening)")
    return 0


async def _due_for_screening(settings: Settings, pool: Any) -> None:
    """Trainings registered long enough ago to be screened this year, with their cases (as
    if they had continued as new after their approval, years ago)."""
    year = datetime.now(ZoneInfo(settings.screening.timezone)).year
    number, (name, email) = next(iter(PROVIDERS.items()))
    async with pool.acquire() as conn:
        made = await demo_data.seed_due_trainings(
            conn, year=year, provider=number, provider_name=name, contact_email=email
        )
    client = await CaseService(settings).client()
    for dossier, application, submitted_at, registered_from in made:
        await client.start_workflow(
            ApplicationWorkflow.run,
            demo_data.registered_case(
                dossier, application, submitted_at=submitted_at, registered_from=registered_from
            ),
            id=dossier,
            task_queue=settings.temporal.task_queue,
            static_summary=summary(dossier, application.title),
            static_details=start_details(dossier, application),
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(search.STATE, CaseState.REGISTERED.value),
                    SearchAttributePair(search.COMPETENT_BODY, application.competent_body),
                    SearchAttributePair(search.PROVIDER, application.provider),
                    SearchAttributePair(search.WAITING_FOR, "nobody"),
                ]
            ),
        )
        out(f"{dossier}  {'registered':<18} {application.title} (due for screening {year})")
