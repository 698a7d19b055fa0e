"""Desk B, client-project ticketing: the vendor's staff see the projects their vendor
runs; a client company's people see its projects, unless a project's visibility list
names someone: then only the listed people and the two project leads see it."""
from sqlalchemy import and_, exists, false, or_, select

from ..models import Project, ProjectViewer, ProjectTicket
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
    + grants("ProjectTicketApi", API_READ + ("can_transition",))
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
scope(ProjectTicket, lambda viewer: ProjectTicket.project_id.in_(select(Project.id).where(visible_projects(viewer))))

#: is_vendor_staff(user, project): a ProjectLead or VendorAgent of the vendor running it.
is_vendor_staff = row_predicate(Project, run_by_viewer)
#: may_file_on(user, project): the project's vendor staff and its client company's people.
may_file_on = row_predicate(Project, open_to_new_tickets)
#: may_see_project(user, project): the project's scope, for one person and one project.
may_see_project = row_predicate(Project, visible_projects)
