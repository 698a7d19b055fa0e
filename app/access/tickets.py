"""Desk B, client-project ticketing: vendor staff see their vendor's projects; a client's
people see their company's projects, unless the project's visibility list names
someone: then only the listed people and the two project leads see it."""
from sqlalchemy import and_, exists, false, or_, select

from ..models import Project, ProjectViewer, Ticket
from ..security import API_READ, CREATOR, EXPORT, PROJECT_LEAD, READ, SUPPORT_AGENT, Viewer, grant, grants, scope

# Vendor staff work tickets in the back office; clients and vendor staff use the
# extranet pages (what each may do there is decided by app/rules/tickets.py).
TICKET_VENDOR_TRANSITIONS = ("assign", "start", "wait_rd", "ask_client", "lead_followup", "process")
EXTRANET = (
    grants("Extranet", ("can_read", "can_write"))
    + grants("TicketApi", API_READ)
    + grants("MyProjects", ("menu_access",))
    + grants("MyTickets", ("menu_access",))
    + grants("Ticketing", ("menu_access",))
)
BACK_OFFICE = (
    grants("ProjectView", READ + EXPORT)
    + grants("TicketView", READ + EXPORT + ("can_edit",) + TICKET_VENDOR_TRANSITIONS)
    + grants("Projects", ("menu_access",))
    + grants("Tickets", ("menu_access",))
)
grant(CREATOR, EXTRANET)
grant((PROJECT_LEAD, SUPPORT_AGENT), EXTRANET + BACK_OFFICE)


def visible_projects(viewer: Viewer):
    if not viewer.organisation_ids:
        return false()
    orgs = list(viewer.organisation_ids)
    listed = ProjectViewer.project_id == Project.id
    client_side = and_(Project.organisation_id.in_(orgs), or_(
        ~exists().where(listed),
        exists().where(listed, ProjectViewer.user_id == viewer.user_id),
        Project.client_lead_id == viewer.user_id,
        Project.vendor_lead_id == viewer.user_id,
    ))
    return or_(Project.vendor_id.in_(orgs), client_side)


scope(Project, visible_projects)
scope(ProjectViewer, lambda viewer: ProjectViewer.project_id.in_(
    select(Project.id).where(visible_projects(viewer))))
scope(Ticket, lambda viewer: Ticket.project_id.in_(select(Project.id).where(visible_projects(viewer))))
