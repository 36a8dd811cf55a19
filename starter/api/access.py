"""Who may submit, read and list, checked in the API (these touch no case workflow). Who may
send each decision to a case is `rules.guards` (named in the table of decisions), checked by
the API before it sends and by the workflow again. Each rule refuses with a sentence the
user can act on.
"""

from __future__ import annotations

from models.case import CaseStatus
from models.errors import Refusal
from models.identity import Actor, RoleKind
from rules import guards
from rules.case_view import provider_view, without_documents
from starter.api.problems import Problem
from starter.client import Refused, no_dossier

PROVIDER_GUIDANCE = (
    "you do not have the right to submit for an organisation in the opleidingsdatabank. "
    "Ask your organisation's local administrator (lokale beheerder) to grant you the role "
    '"DWSE organisatieverantwoordelijke, context opleidingsdatabank" in the user management '
    "(gebruikersbeheer); if you see only your personal name and no organisation after signing "
    "in, you do not have that right yet."
)


def forbidden(detail: str, field: str | None = None, slug: str = "forbidden") -> Problem:
    return Problem(403, slug, "Not allowed", detail, field=field)


def may_submit_at_all(actor: Actor) -> None:
    if not actor.has(RoleKind.PROVIDER) or actor.organisation is None:
        raise forbidden(PROVIDER_GUIDANCE, slug="missing-provider-role")


def may_submit(actor: Actor, provider: str) -> None:
    may_submit_at_all(actor)
    if actor.organisation != provider:
        raise forbidden(
            f"you act for organisation {actor.organisation}; you cannot submit for {provider}",
            field="provider",
        )


STAFF_ROLES = (RoleKind.REVIEWER, RoleKind.BEC, RoleKind.DEPARTMENT)


def is_staff(actor: Actor) -> bool:
    return any(actor.has(kind) for kind in STAFF_ROLES)


def only_own(actor: Actor) -> str | None:
    """The organisation whose dossiers alone exist for this reader (None: staff, any). A
    token without an organisation and without a staff role sees none."""
    return None if is_staff(actor) else (actor.organisation or "")


def must_exist_for(actor: Actor, dossier: guards.Owned) -> None:
    """For anyone but staff, another organisation's dossier does not exist: the same 404,
    word for word, as a number never given (dossier numbers are sequential)."""
    if is_staff(actor) or actor.organisation == dossier.provider:
        return
    raise Refused(Refusal.NOT_FOUND, no_dossier(dossier.dossier))


def may_read(actor: Actor, dossier: guards.Owned) -> None:
    """Owner, reviewers of its competent body, the BEC and the department read a dossier."""
    if (
        actor.is_provider_of(dossier.provider)
        or actor.reviews_for(dossier.competent_body)
        or actor.has(RoleKind.BEC)
        or actor.has(RoleKind.DEPARTMENT)
    ):
        return
    raise forbidden(f"you may not read dossier {dossier.dossier}")


def may_list(actor: Actor, provider: str | None) -> str:
    """Returns the organisation whose dossiers are listed."""
    if actor.has(RoleKind.DEPARTMENT) and provider is not None:
        return provider
    if actor.has(RoleKind.PROVIDER) and actor.organisation is not None:
        if provider is not None and provider != actor.organisation:
            raise forbidden(
                f"you act for organisation {actor.organisation}; you cannot list the "
                f"dossiers of {provider}",
                field="provider",
            )
        return actor.organisation
    if actor.has(RoleKind.DEPARTMENT):
        # 403, not 422: the request is well formed; department staff may not list every
        # organisation at once.
        raise forbidden(
            "department staff list the dossiers of one organisation at a time: add "
            "?provider=<enterprise number>",
            field="provider",
        )
    raise forbidden("only provider users (their own organisation) and the department list dossiers")


def shown(actor: Actor, status: CaseStatus) -> CaseStatus:
    """The case as this reader may see it: the BEC and the department all of it; a reviewer
    no document ids (reviewers read no documents); a provider no person's id of staff."""
    if actor.has(RoleKind.BEC) or actor.has(RoleKind.DEPARTMENT):
        return status
    if actor.reviews_for(status.competent_body) and not actor.is_provider_of(status.provider):
        return without_documents(status)
    return provider_view(status)
