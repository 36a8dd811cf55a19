"""The words a page uses for the engine's states, steps and e-mails (Dutch, plain). A value
without a label is shown as it is, so a new state never breaks a page."""

from __future__ import annotations

# A state's and an end's words are the rules' own (models/dutch.py): one list for both.
from models.dutch import END_REASON as END_REASON
from models.dutch import STATE as STATE
from models.dutch import dutch_word

EVENT = {
    "application.submitted": "Aanvraag ingediend",
    "application.approved": "Goedgekeurd",
    "application.refused": "Geweigerd",
    "application.refusal.notified": "Weigering verstuurd",
    "application.refusal.final": "Weigering definitief",
    "application.appeal.filed": "Beroep ingediend",
    "application.appeal.heard": "Hoorzitting gehouden",
    "application.appeal.hearing_waived": "Afgezien van hoorzitting",
    "application.appeal.overdue": "Beslissing over beroep te laat",
    "application.appeal.granted": "Beroep gegrond",
    "application.appeal.rejected": "Beroep ongegrond",
    "application.appeal.window_lapsed": "Beroepstermijn verstreken",
    "application.deadline.corrected": "Ontvangstdatum gecorrigeerd",
    "application.removed": "Uit de databank verwijderd",
    "application.replaced": "Vervangen door een nieuwe aanvraag",
    "application.revoked": "Registratie ingetrokken",
    "application.screening.negative": "Screening negatief",
    "application.screening.positive": "Screening positief",
    "application.stopped": "Registratie stopgezet",
    "application.withdrawn": "Aanvraag ingetrokken",
}

EMAIL = {
    "acknowledgment": "Ontvangstbevestiging",
    "approval": "Goedkeuring",
    "refusal": "Weigering",
    "withdrawal": "Intrekking",
    "appeal_received": "Beroep ontvangen",
    "bec_decision": "Beslissing over het beroep",
    "bec_overdue": "Beroep te laat beslist",
    "screening_result": "Resultaat van de screening",
    "removal": "Verwijdering",
    "stop_confirmation": "Bevestiging stopzetting",
    "revocation": "Intrekking registratie",
    "final_refusal": "Definitieve weigering",
}

EMAIL_STATUS = {
    "pending": "wacht op verzending",
    "sending": "wordt verstuurd",
    "sent": "verstuurd",
    "failed": "niet verstuurd",
}


VOLUME_UNIT = {
    "contact_hours": "contacturen",
    "teaching_periods": "lestijden",
    "study_points": "studiepunten",
}


def label(table: dict[str, str], value: object) -> str:
    return dutch_word(table, value)


# A deadline's kind, as the provider's pages name it before its day.
DEADLINE = {
    "appeal_window": "Beroep mogelijk tot en met",
    "bec_decision": "Beslissing van de beroepscommissie uiterlijk",
    "removal": "Verwijderd uit de databank na",
}


def provider_next(waiting_for: str, state: str, competent_body: str) -> str:
    """What the organisation must do next, from who the case waits for
    (rules.case_view.who_and_what, the same as the API's `waiting_for`)."""
    if waiting_for == "provider":
        return "U kunt beroep aantekenen bij de beroepscommissie (zie de termijn)."
    if waiting_for == "reviewer":
        return f"Niets: de {competent_body} beoordeelt uw aanvraag."
    if waiting_for == "bec":
        return "Niets: de beroepscommissie (BEC) behandelt uw beroep."
    if waiting_for == "system":  # received, its case still to be started (case_view)
        return (
            "Niets: uw aanvraag is ontvangen en bewaard. De behandeling start vanzelf zodra "
            f"de procesmotor bereikbaar is; daarna beoordeelt de {competent_body} ze."
        )
    if state == "refused":
        return "Niets: u krijgt de weigering per e-mail; daarna loopt de beroepstermijn."
    if state == "removal_scheduled":
        return (
            "Niets verplicht. U kunt de opleiding bijsturen en opnieuw aanmelden "
            "vóór ze verwijderd wordt."
        )
    if state == "registered":
        return "Niets: de opleiding is geregistreerd."
    return "Niets: het dossier is afgesloten."


OUTCOME = {
    "approved": "goedgekeurd",
    "refused": "geweigerd",
    "granted": "beroep gegrond",
    "rejected": "beroep ongegrond",
    "revoked": "registratie ingetrokken",
}


def who(role: str) -> str:
    """Who acted, as a provider reads it (rules.case_view.provider_view gives roles only)."""
    if role.startswith("reviewer "):
        return f"de beoordelaar van {role.removeprefix('reviewer ')}"
    return {
        "BEC": "de beroepscommissie (BEC)",
        "department": "het departement",
        "provider": "uw organisatie",
        "system": "het systeem",
    }.get(role, role)
