"""The words a page uses for the engine's states, steps and e-mails (Dutch, plain). A value
without a label is shown as it is, so a new state never breaks a page."""

from __future__ import annotations

STATE = {
    "under_review": "wacht op beoordeling",
    "refused": "geweigerd",
    "in_appeal": "in beroep",
    "registered": "geregistreerd",
    "removal_scheduled": "wordt verwijderd",
    "ended": "afgesloten",
    "failed": "vastgelopen",
}

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
    text = str(value or "")
    return table.get(text, text.replace("_", " "))
