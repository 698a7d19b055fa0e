"""Desk B, client-project ticketing: the vendor's staff see the projects their vendor
runs; a client company's people see its projects, unless a project's visibility list
names someone: then only the listed people and the two project leads see it.

A ticket's comments are seen with the ticket, except internal notes, which only the
staff of the vendor running the project see (page, API, files, feed: one scope).
Canned answers are their vendor's staff's."""
from sqlalchemy import and_, exists, false, or_, select

from ..extensions import db
from ..models import CannedAnswer, Project, ProjectTicket, ProjectTicketComment, ProjectViewer
from ..platform.recent import RecentAnswers
from ..security import (
    API_READ,
    CLIENT,
    EXPORT,
    PROJECT_LEAD,
    READ,
    VENDOR_AGENT,
    Viewer,
    grant,
    grants,
    row_predicate,
    scope,
)

# Vendor staff work tickets in the back office; clients and vendor staff use the
# extranet pages (what each may do there is decided by app/rules/tickets.py).
TICKET_VENDOR_TRANSITIONS = ("assign", "start", "wait_rd", "ask_client", "lead_followup", "process")
EXTRANET = (
    grants("Extranet", ("can_read", "can_write"))
    + grants("ProjectTicketApi", API_READ + ("can_transition", "can_comment"))
    + grants("ProjectApi", API_READ)
    + grants("MyProjects", ("menu_access",))
    + grants("MyTickets", ("menu_access",))
    + grants("Ticketing", ("menu_access",))
)
BACK_OFFICE = (
    grants("ProjectView", READ + EXPORT)
    + grants("ProjectTicketView", READ + EXPORT + ("can_edit",) + TICKET_VENDOR_TRANSITIONS)
    + grants("Projects", ("menu_access",))
    + grants("Tickets", ("menu_access",))
    + grants("TicketQueues", ("can_read", "can_write", "menu_access"))
    + grants("CannedAnswerView", READ + EXPORT + ("can_add", "can_edit", "can_delete"))
    + grants("CannedAnswers", ("menu_access",))
)
VENDOR_ROLES = (PROJECT_LEAD, VENDOR_AGENT)
grant(CLIENT, EXTRANET + grants("ProjectApi", ("can_visibility",)))
grant(VENDOR_ROLES, EXTRANET + BACK_OFFICE)


def run_by_viewer(viewer: Viewer):
    """Projects the viewer works on as staff of the vendor running them."""
    if not viewer.organisation_ids or not viewer.roles.intersection(VENDOR_ROLES):
        return false()
    return Project.vendor_id.in_(list(viewer.organisation_ids))


def of_viewer_company(viewer: Viewer):
    """Projects of the viewer's client companies, whatever their visibility list."""
    if not viewer.organisation_ids:
        return false()
    return Project.organisation_id.in_(list(viewer.organisation_ids))


def visible_projects(viewer: Viewer):
    listed = ProjectViewer.project_id == Project.id
    listed_or_lead = or_(
        ~exists().where(listed),
        exists().where(listed, ProjectViewer.user_id == viewer.user_id),
        Project.client_lead_id == viewer.user_id,
        Project.vendor_lead_id == viewer.user_id,
    )
    return or_(run_by_viewer(viewer), and_(of_viewer_company(viewer), listed_or_lead))


def open_to_new_tickets(viewer: Viewer):
    """Projects the viewer may file tickets on: their vendor's, or their company's."""
    return or_(run_by_viewer(viewer), of_viewer_company(viewer))


scope(Project, visible_projects)
scope(ProjectViewer, lambda viewer: ProjectViewer.project_id.in_(
    select(Project.id).where(visible_projects(viewer))))


#: Each viewer's visible projects, kept a few seconds and forgotten on a write to the
#: projects or their visibility lists (in any process, with Redis).
_VISIBLE_PROJECTS = RecentAnswers((Project.__tablename__, ProjectViewer.__tablename__))


def visible_project_ids(viewer: Viewer) -> tuple:
    """The ids of the projects the viewer sees (read again after a write to the
    projects): the ticket scope compares with this list, so a grid reads each
    project's tickets by its index (ScopedInterface's branches) instead of walking
    every ticket against a subquery. Every ticket page asks it: it is kept."""
    return _VISIBLE_PROJECTS.get((viewer.user_id, viewer.organisation_ids, viewer.roles), lambda: tuple(
        db.session.scalars(select(Project.id).where(visible_projects(viewer)).order_by(Project.id))))


def visible_tickets(viewer: Viewer):
    ids = visible_project_ids(viewer)
    return ProjectTicket.project_id.in_(list(ids)) if ids else false()


def of_ticket_company(viewer: Viewer):
    """Tickets the viewer sees as a person of the ticket's client company."""
    if not viewer.organisation_ids:
        return false()
    return and_(ProjectTicket.organisation_id.in_(list(viewer.organisation_ids)), visible_tickets(viewer))


def visible_comments(viewer: Viewer):
    """The comments of the tickets the viewer sees; internal notes only on the
    projects the viewer's vendor runs."""
    on_visible = ProjectTicketComment.ticket_id.in_(select(ProjectTicket.id).where(visible_tickets(viewer)))
    on_run = ProjectTicketComment.ticket_id.in_(
        select(ProjectTicket.id).join(Project, Project.id == ProjectTicket.project_id).where(run_by_viewer(viewer)))
    return and_(on_visible, or_(ProjectTicketComment.internal.is_(False), on_run))


def own_vendor(viewer: Viewer):
    """Canned answers of the vendors the viewer is staff of."""
    if not viewer.organisation_ids or not viewer.roles.intersection(VENDOR_ROLES):
        return false()
    return CannedAnswer.vendor_id.in_(list(viewer.organisation_ids))


scope(ProjectTicket, visible_tickets)
scope(ProjectTicketComment, visible_comments)
scope(CannedAnswer, own_vendor)

#: is_vendor_staff(user, project): a ProjectLead or VendorAgent of the vendor running it.
is_vendor_staff = row_predicate(Project, run_by_viewer)
#: may_file_on(user, project): the project's vendor staff and its client company's people.
may_file_on = row_predicate(Project, open_to_new_tickets)
#: may_see_project(user, project): the project's scope, for one person and one project.
may_see_project = row_predicate(Project, visible_projects)
#: sees_ticket(user, ticket): the ticket is in the person's row scope.
sees_ticket = row_predicate(ProjectTicket, visible_tickets)
#: is_client_colleague(user, ticket): a person of the ticket's client company who sees it.
is_client_colleague = row_predicate(ProjectTicket, of_ticket_company)
