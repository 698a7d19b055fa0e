"""Desk B, client-project ticketing — the screens.

* Back office (vendor staff): the project and ticket grids, with filters by state,
  priority, project and assignee, and the workflow's bulk transitions.
* Extranet (clients, and vendor staff too): "My projects", the project page in
  sections, "My tickets", the ticket page with its history, ticket creation and
  the client project lead's visibility list.

Every page loads its project or ticket through the row scope (404 otherwise); what
a person may do is decided by app/rules/tickets.py.
"""
from flask import abort, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import safe
from flask_appbuilder.security.decorators import has_access, permission_name, protect
from flask_babel import gettext, lazy_gettext as _l

from ..extensions import db
from ..models import Project, ProjectViewer, ProjectTicket, ProjectTicketPriority
from ..rules import tickets as rules
from ..security import ScopedInterface, apply_scope
from ..desks import desk_of
from .base import Attempt, GuichetModelRestApi, GuichetModelView, WorkflowModelView, read_json

DESK = desk_of(__name__)

PROJECT_LABELS = {
    "name": _l("Name"),
    "organisation": _l("Client company"),
    "vendor": _l("Vendor"),
    "vendor_lead": _l("Vendor project lead"),
    "client_lead": _l("Client project lead"),
    "phase": _l("Phase"),
    "event_date": _l("Event date"),
    "setup_contact": _l("Setup contact"),
    "support_mailbox": _l("Support mailbox"),
    "created_on": _l("Created on"),
    "changed_on": _l("Changed on"),
}
TICKET_LABELS = {
    "reference": _l("Reference"),
    "title": _l("Subject"),
    "project": _l("Project"),
    "organisation": _l("Client company"),
    "description": _l("Description"),
    "page_url": _l("Page URL"),
    "priority": _l("Priority"),
    "priority_context": _l("Priority context"),
    "state": _l("State"),
    "declarant": _l("Declarant"),
    "follower": _l("Follower"),
    "assignee": _l("Assignee"),
    "closed_on": _l("Closed on"),
    "created_on": _l("Created on"),
    "changed_on": _l("Changed on"),
    "created_by": _l("Created by"),
    "changed_by": _l("Changed by"),
}
CLOSED_PAGE_SIZE = 10
VISIBILITY_UPDATED = _l("The visibility list has been updated.")


class ProjectView(GuichetModelView):
    datamodel = ScopedInterface(Project)
    route_base = "/projects"
    list_title = _l("Projects")
    show_title = _l("Project")
    add_title = _l("Add a project")
    edit_title = _l("Edit a project")
    list_columns = ["name", "organisation", "phase", "vendor_lead", "client_lead", "event_date"]
    show_columns = ["name", "organisation", "vendor", "vendor_lead", "client_lead", "phase", "event_date",
                    "setup_contact", "support_mailbox", "created_on", "changed_on"]
    add_columns = edit_columns = ["name", "organisation", "vendor", "vendor_lead", "client_lead", "phase",
                                  "event_date", "setup_contact", "support_mailbox"]
    search_columns = ["name", "organisation", "phase", "vendor_lead", "client_lead"]
    label_columns = PROJECT_LABELS
    base_order = ("name", "asc")


class ProjectTicketView(WorkflowModelView):
    datamodel = ScopedInterface(ProjectTicket)
    workflow = rules.TICKET_WORKFLOW
    route_base = "/tickets"
    list_title = _l("Tickets")
    show_title = _l("Ticket")
    edit_title = _l("Edit a ticket")
    base_permissions = ["can_list", "can_show", "can_edit", "can_export"]
    list_columns = ["reference", "title", "project", "priority", "state", "assignee", "created_on"]
    show_columns = ["reference", "title", "project", "organisation", "description", "page_url", "priority",
                    "priority_context", "state", "declarant", "follower", "assignee", "created_on",
                    "closed_on"]
    edit_columns = ["assignee", "priority", "priority_context"]
    search_columns = ["state", "priority", "project", "assignee", "reference", "title", "created_on"]
    label_columns = TICKET_LABELS
    base_order = ("created_on", "desc")

    def pre_update(self, item):
        rules.check_edit(item)


class ProjectApi(GuichetModelRestApi):
    """Projects: read in scope by their vendor's staff and client company; created and
    changed by Admin; the visibility list is kept by the client project lead."""

    grid = ProjectView
    resource_name = "project"

    def _project(self, pk):
        return self.datamodel.get(pk, self._base_filters)

    @expose("/<int:pk>/viewers", methods=["POST"])
    @protect()
    @safe
    @permission_name("visibility")
    def add_viewer(self, pk):
        """Put a person of the client company on the project's visibility list.
        ---
        post:
          summary: Add a person to a project's visibility list (the client project lead)
          parameters:
          - {in: path, name: pk, schema: {type: integer}}
          requestBody:
            required: true
            content:
              application/json:
                schema: {type: object, required: [user], properties: {user: {type: integer}}}
          responses:
            201:
              description: Listed
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        project = self._project(pk)
        if project is None:
            return self.response_404()

        def add():
            user_id = read_json({"user": int}).get("user")
            person = next((u for u in rules.company_people(project) if u.id == user_id), None)
            return rules.add_viewer(project, g.user, person)

        return self.run_rule(add, 201, lambda viewer: {"id": project.id, "user": viewer.user_id})

    @expose("/<int:pk>/viewers/<int:user_id>", methods=["DELETE"])
    @protect()
    @safe
    @permission_name("visibility")
    def remove_viewer(self, pk, user_id):
        """Take a person off the project's visibility list.
        ---
        delete:
          summary: Remove a person from a project's visibility list (the client project lead)
          parameters:
          - {in: path, name: pk, schema: {type: integer}}
          - {in: path, name: user_id, schema: {type: integer}}
          responses:
            200:
              description: Removed
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        project = self._project(pk)
        if project is None:
            return self.response_404()
        viewer = next((v for v in project.viewers if v.user_id == user_id), None)
        return self.run_rule(lambda: rules.remove_viewer(project, g.user, viewer),
                             answer=lambda _: {"id": project.id, "user": user_id})


class ProjectTicketApi(GuichetModelRestApi):
    grid = ProjectTicketView
    resource_name = "ticket"
    add_title = _l("Add a ticket")
    # Reading for everyone who has the extranet; changing and deleting for Admin only.
    base_permissions = ["can_get", "can_info", "can_put", "can_delete"]

    def pre_update(self, item):
        rules.check_edit(item)


def _form_int(name):
    try:
        return int(request.values.get(name) or 0) or None
    except ValueError:
        return None


class ExtranetView(BaseView):
    """The client's pages (French "extranet"): projects, tickets, visibility list."""

    route_base = "/extranet"
    default_view = "projects"
    class_permission_name = "Extranet"
    method_permission_name = {
        "projects": "read", "project": "read", "my_tickets": "read", "ticket": "read",
        "visibility": "read", "new_ticket": "write", "act": "write", "attach": "write",
        "visibility_add": "write", "visibility_remove": "write",
    }

    def _project(self, project_id):
        project = rules.visible_projects().filter(Project.id == project_id).one_or_none()
        if project is None:
            abort(404)
        return project

    def _ticket(self, reference):
        ticket = rules.visible_tickets().filter(ProjectTicket.reference == reference).one_or_none()
        if ticket is None:
            abort(404)
        return ticket

    @expose("/")
    @has_access
    def projects(self):
        projects = rules.visible_projects().all()
        counts = rules.project_counts([p.id for p in projects])
        return self.render_template("tickets/projects.html", title=gettext("My projects"),
                                    projects=projects, counts=counts)

    @expose("/project/<int:project_id>")
    @has_access
    def project(self, project_id):
        project = self._project(project_id)
        keywords = request.args.get("q", "").strip()
        page = max(0, _form_int("page") or 0)
        sections = rules.project_sections(project)
        closed_count, closed = rules.closed_tickets(project.id, keywords, page, CLOSED_PAGE_SIZE)
        shown = [t for section in sections.values() for t in section]
        return self.render_template(
            "tickets/project.html", title=str(project), project=project, sections=sections,
            last=rules.last_comments(shown), closed=closed, closed_count=closed_count, keywords=keywords,
            page=page, pages=(closed_count + CLOSED_PAGE_SIZE - 1) // CLOSED_PAGE_SIZE,
            bold=rules.CONTEXT_REQUIRED,
            may_manage=rules.may_manage_visibility(g.user, project))

    @expose("/tickets")
    @has_access
    def my_tickets(self):
        tickets = rules.my_tickets(g.user)
        return self.render_template("tickets/my_tickets.html", title=gettext("My tickets"), tickets=tickets,
                                    last=rules.last_comments(tickets), bold=rules.CONTEXT_REQUIRED)

    @expose("/ticket/<reference>")
    @has_access
    def ticket(self, reference):
        ticket = self._ticket(reference)
        return self.render_template(
            "tickets/ticket.html", title=str(ticket), ticket=ticket, history=rules.history(ticket),
            closed=rules.closed_refusal(ticket) is not None,
            attachments=rules.attachments(ticket), transitions=rules.available(ticket, g.user),
            may_comment=rules.may_comment(g.user, ticket), max_attachments=rules.MAX_ATTACHMENTS)

    @expose("/ticket/<reference>/act", methods=["POST"])
    @has_access
    def act(self, reference):
        """A comment, or a transition with its comment, each with an optional attachment."""
        ticket = self._ticket(reference)
        name = request.form.get("action", "comment")
        text = request.form.get("comment", "")
        upload = request.files.get("attachment")
        with Attempt() as attempt:
            if name == "comment":
                rules.add_comment(ticket, g.user, text, upload)
                attempt.done = gettext("Your comment has been added.")
            else:
                rules.fire(ticket, name, g.user, text, upload)
                attempt.done = gettext("Done: %(action)s.", action=rules.TICKET_WORKFLOW.transition(name).label)
        return redirect(url_for(".ticket", reference=reference))

    @expose("/ticket/<reference>/attach", methods=["POST"])
    @has_access
    def attach(self, reference):
        ticket = self._ticket(reference)
        with Attempt(done=gettext("The files have been added.")):
            rules.add_attachments(ticket, g.user, request.files.getlist("attachments"))
        return redirect(url_for(".ticket", reference=reference))

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def new_ticket(self):
        projects = rules.projects_open_to_new_tickets().all()
        project_id = _form_int("project")
        project = next((p for p in projects if p.id == project_id), None)
        if project_id and project is None:
            abort(404)
        draft = rules.TicketDraft(
            title=request.form.get("title", ""), description=request.form.get("description", ""),
            page_url=request.form.get("page_url", ""), priority=request.form.get("priority", ""),
            priority_context=request.form.get("priority_context", ""), follower_id=_form_int("follower"))
        if request.method == "POST":
            with Attempt() as attempt:
                ticket = rules.create_ticket(project, g.user, draft, request.files.getlist("attachments"))
                attempt.done = gettext("Ticket %(reference)s created.", reference=ticket.reference)
            if attempt.refused is None:
                return redirect(url_for(".ticket", reference=ticket.reference))
        people = [u for u in rules.follower_candidates(project) if u.id != g.user.id] if project else []
        return self.render_template(
            "tickets/new_ticket.html", title=gettext("Create a ticket"), projects=projects, project=project,
            draft=draft, priorities=list(ProjectTicketPriority), people=people,
            context_required=[p.value for p in rules.CONTEXT_REQUIRED], max_attachments=rules.MAX_ATTACHMENTS)

    @expose("/project/<int:project_id>/visibility")
    @has_access
    def visibility(self, project_id):
        project = self._project(project_id)
        listed = {v.user_id for v in project.viewers}
        return self.render_template(
            "tickets/visibility.html", title=gettext("Visibility of the project"), project=project,
            viewers=sorted(project.viewers, key=lambda v: (v.user.last_name, v.user.first_name)),
            candidates=[u for u in rules.company_people(project) if u.id not in listed],
            may_manage=rules.may_manage_visibility(g.user, project))

    @expose("/project/<int:project_id>/visibility/add", methods=["POST"])
    @has_access
    def visibility_add(self, project_id):
        project = self._project(project_id)
        user_id = _form_int("user")
        user = next((u for u in rules.company_people(project) if u.id == user_id), None)
        with Attempt(done=VISIBILITY_UPDATED):
            rules.add_viewer(project, g.user, user)
        return redirect(url_for(".visibility", project_id=project_id))

    @expose("/project/<int:project_id>/visibility/remove/<int:viewer_id>", methods=["POST"])
    @has_access
    def visibility_remove(self, project_id, viewer_id):
        project = self._project(project_id)
        viewer = apply_scope(db.session.query(ProjectViewer), ProjectViewer).filter(
            ProjectViewer.id == viewer_id).one_or_none()
        with Attempt(done=VISIBILITY_UPDATED):
            rules.remove_viewer(project, g.user, viewer)
        return redirect(url_for(".visibility", project_id=project_id))


def register(appbuilder):
    appbuilder.add_view(ExtranetView, "MyProjects", href="/extranet/", icon="fa-folder-open",
                        label=_l("My projects"), category=DESK.category)
    appbuilder.add_link("MyTickets", href="/extranet/tickets", icon="fa-list", label=_l("My tickets"),
                        category=DESK.category)
    appbuilder.add_view(ProjectTicketView, "Tickets", icon="fa-tasks", label=_l("Ticket desk"), category=DESK.category)
    appbuilder.add_view(ProjectView, "Projects", icon="fa-briefcase", label=_l("Projects"),
                        category=DESK.category)
    appbuilder.add_api(ProjectTicketApi)
    appbuilder.add_api(ProjectApi)
