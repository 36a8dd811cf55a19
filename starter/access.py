"""Who may submit, read and list, checked in the API (these touch no case workflow). Who may
send each decision to a case is `rules.guards` (named in the table of decisions), checked by
the API before it sends and by the workflow again. Each rule refuses with a sentence the
user can act on.
"""

from __future__ import annotations

from models.identity import Actor, RoleKind
from models.registry import DossierSummary
from starter.problems import Problem

PROVIDER_GUIDANCE = (
    "you do not have the right to submit for an organisation in the opleidingsdatabank. "
    "Ask your organisation's local administrator (lokale beheerder) to grant you the role "
    '"DWSE organisatieverantwoordelijke, context opleidingsdatabank" in the user management '
    "(gebruikersbeheer); if you see only your personal name and no organisation after signing "
    "in, you do not have that right yet."
)


def forbidden(detail: str, field: str | None = None, slug: str = "forbidden") -> Problem:
    return Problem(403, slug, "Not allowed", detail, field=field)


def may_submit(actor: Actor, provider: str) -> None:
    if not actor.has(RoleKind.PROVIDER) or actor.organisation is None:
        raise forbidden(PROVIDER_GUIDANCE, slug="missing-provider-role")
    if actor.organisation != provider:
        raise forbidden(
            f"you act for organisation {actor.organisation}; you cannot submit for {provider}",
            field="provider",
        )


def may_read(actor: Actor, dossier: DossierSummary) -> None:
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
