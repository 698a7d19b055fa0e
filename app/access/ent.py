"""Desk C, ENT help and support (ENT: espace numérique de travail, a school's online
workspace): a requester sees their own requests, a referent every request of their
establishments, the support desk the requests escalated to it."""
from sqlalchemy import and_, exists, false, or_

from ..models import EntApplication, EntEstablishment, HelpRequest, Organisation, OrganisationKind
from ..security import (
    API_READ,
    ENT_REFERENT,
    ENT_SUPPORT,
    EXPORT,
    READ,
    USER,
    Viewer,
    grant,
    grants,
    row_predicate,
    scope,
)

# Users file and follow their requests, referents work their establishments'
# requests, the support desk answers escalated ones.
HELP_REQUESTS = (
    grants("HelpRequestView", READ + EXPORT + ("can_home", "can_requester"))
    + grants("HelpRequestApi", API_READ + ("can_transition",))
    + grants("HelpDesk", ("menu_access",))
    + grants("HelpRequests", ("menu_access",))
)
FILE_REQUESTS = (grants("HelpRequestView", ("can_new", "can_reply")) + grants("NewHelpRequest", ("menu_access",))
                 + grants("HelpRequestApi", ("can_post", "can_comment")))
grant(USER, HELP_REQUESTS + FILE_REQUESTS + grants("HelpRequestView", ("close", "reopen")))
grant(ENT_REFERENT, (
    HELP_REQUESTS + FILE_REQUESTS
    + grants("HelpRequestView", ("open", "resolve", "close", "reopen", "escalate"))
    + grants("EntApplicationView", READ + EXPORT) + grants("EntApplications", ("menu_access",))
    + grants("EntEstablishmentView", READ + EXPORT) + grants("EntEstablishments", ("menu_access",))
))
grant(ENT_SUPPORT, HELP_REQUESTS + grants("HelpRequestView", ("can_reply", "resolve"))
      + grants("HelpRequestApi", ("can_answer",)))


def filed_by_viewer(viewer: Viewer):
    return HelpRequest.requester_id == viewer.user_id if viewer.user_id else false()


def of_viewer_establishments(viewer: Viewer):
    """Requests a referent works: those of the establishments they belong to."""
    if not viewer.organisation_ids or ENT_REFERENT not in viewer.roles:
        return false()
    return HelpRequest.organisation_id.in_(list(viewer.organisation_ids))


def escalated_to_viewer(viewer: Viewer):
    """Requests transmitted to the support desk the viewer works at."""
    if not viewer.organisation_ids or ENT_SUPPORT not in viewer.roles:
        return false()
    return and_(HelpRequest.escalated_on.isnot(None),
                HelpRequest.support_desk_id.in_(list(viewer.organisation_ids)))


def visible_help_requests(viewer: Viewer):
    return or_(filed_by_viewer(viewer), of_viewer_establishments(viewer), escalated_to_viewer(viewer))


def ent_catalogue(viewer: Viewer):
    """The application catalogue: for referents, the support desk and establishments' members."""
    if viewer.roles.intersection((ENT_REFERENT, ENT_SUPPORT)):
        return None
    if not viewer.organisation_ids:
        return false()
    return exists().where(Organisation.id.in_(list(viewer.organisation_ids)),
                          Organisation.kind == OrganisationKind.establishment)


scope(HelpRequest, visible_help_requests)
scope(EntApplication, ent_catalogue)
scope(EntEstablishment, lambda viewer: or_(
    EntEstablishment.organisation_id.in_(list(viewer.organisation_ids)),
    EntEstablishment.support_desk_id.in_(list(viewer.organisation_ids))) if viewer.organisation_ids else false())

#: is_requester(user, request): the person who filed it.
is_requester = row_predicate(HelpRequest, filed_by_viewer)
#: is_referent_of(user, request): a referent of the request's establishment.
is_referent_of = row_predicate(HelpRequest, of_viewer_establishments)
#: is_desk_agent_of(user, request): an agent of the support desk it was transmitted to.
is_desk_agent_of = row_predicate(HelpRequest, escalated_to_viewer)
