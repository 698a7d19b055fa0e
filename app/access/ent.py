"""Desk C, ENT help and support (ENT: espace numérique de travail, a school's online
workspace): a requester sees their own requests, a referent every request of their
establishments, the support desk the requests escalated to it."""
from sqlalchemy import and_, exists, false, or_

from ..models import EntApplication, EntEstablishment, HelpRequest, Organisation, OrganisationKind
from ..security import API_READ, ENT_REFERENT, EXPORT, READ, SUPPORT_AGENT, USER, Viewer, grant, grants, scope

# Users file and follow their requests, referents work their establishments'
# requests, the support desk answers escalated ones.
HELP_REQUESTS = (
    grants("HelpRequestView", READ + EXPORT + ("can_home", "can_requester"))
    + grants("HelpRequestApi", API_READ)
    + grants("HelpDesk", ("menu_access",))
    + grants("HelpRequests", ("menu_access",))
)
FILE_REQUESTS = grants("HelpRequestView", ("can_new", "can_comment")) + grants("NewHelpRequest", ("menu_access",))
grant(USER, HELP_REQUESTS + FILE_REQUESTS + grants("HelpRequestView", ("close", "reopen")))
grant(ENT_REFERENT, (
    HELP_REQUESTS + FILE_REQUESTS
    + grants("HelpRequestView", ("open", "resolve", "close", "reopen", "escalate"))
    + grants("EntApplicationView", READ + EXPORT) + grants("EntApplications", ("menu_access",))
    + grants("EntEstablishmentView", READ + EXPORT) + grants("EntEstablishments", ("menu_access",))
))
grant(SUPPORT_AGENT, HELP_REQUESTS + grants("HelpRequestView", ("can_answer", "resolve")))


def visible_help_requests(viewer: Viewer):
    criteria = [HelpRequest.requester_id == viewer.user_id] if viewer.user_id else []
    orgs = list(viewer.organisation_ids)
    if orgs and ENT_REFERENT in viewer.roles:
        criteria.append(HelpRequest.organisation_id.in_(orgs))
    if orgs and SUPPORT_AGENT in viewer.roles:
        criteria.append(and_(HelpRequest.escalated_on.isnot(None), HelpRequest.support_desk_id.in_(orgs)))
    return or_(*criteria) if criteria else false()


def ent_catalogue(viewer: Viewer):
    """The application catalogue: for referents, the support desk and establishments' members."""
    if viewer.roles.intersection((ENT_REFERENT, SUPPORT_AGENT)):
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
