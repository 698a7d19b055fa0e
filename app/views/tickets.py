"""Desk B, client-project ticketing — the screens.

* Back office (vendor staff): the project and ticket grids, with filters by state,
  priority, project and assignee, and the workflow's bulk transitions.
* Extranet (clients, and vendor staff too): "My projects", the project page in
  sections, "My tickets", the ticket page with its history, ticket creation and
  the client project lead's visibility list. Vendor staff also assign a ticket to
  an agent of the project, write internal notes and insert canned answers there.
* The vendor staff's queues (mine, unassigned, waiting for the client, overdue),
  with a bulk assignment, and their vendor's canned answers.

A form refused for one field keeps the files sent with it (pending uploads), listed
on the form shown again.

Every page loads its project or ticket through the row scope (404 otherwise); what
a person may do is decided by app/rules/tickets.py.
"""
from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import safe
from flask_appbuilder.security.decorators import has_access, permission_name, protect
from flask_babel import LazyString, gettext, lazy_gettext as _l

from ..extensions import db
from ..models import CannedAnswer, Project, ProjectViewer, ProjectTicket, ProjectTicketPriority
from ..platform import inputs
from ..rules import tickets as rules
from ..security import ScopedInterface, apply_scope
from ..desks import desk_of
from .base import Attempt, GuichetModelRestApi, GuichetModelView, OffsetDateTime, WorkflowModelView, read_json

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
    "awaiting_vendor_since": _l("Waiting for our answer since"),
    "created_on": _l("Created on"),
    "changed_on": _l("Changed on"),
    "created_by": _l("Created by"),
    "changed_by": _l("Changed by"),
}
CLOSED_PAGE_SIZE = 10
MY_TICKETS_PAGE_SIZE = 50
VISIBILITY_UPDATED = _l("The visibility list has been updated.")
CANNED_LABELS = {
    "title": _l("Title"),
    "body": _l("Text"),
    "vendor": _l("Vendor"),
    "created_on": _l("Created on"),
    "changed_on": _l("Changed on"),
    "created_by": _l("Created by"),
    "changed_by": _l("Changed by"),
}


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
                    "awaiting_vendor_since", "closed_on"]
    edit_columns = ["assignee", "priority", "priority_context"]
    search_columns = ["state", "priority", "project", "assignee", "reference", "title", "created_on"]
    label_columns = TICKET_LABELS
    base_order = ("created_on", "desc")

    def pre_update(self, item):
        rules.check_edit(item)


class CannedAnswerView(GuichetModelView):
    """A vendor's canned answers, kept by its staff; placeholders are filled in when
    one is inserted into a comment."""

    datamodel = ScopedInterface(CannedAnswer)
    route_base = "/canned-answers"
    list_title = _l("Canned answers")
    show_title = _l("Canned answer")
    add_title = _l("Add a canned answer")
    edit_title = _l("Edit a canned answer")
    list_columns = ["title", "vendor", "changed_on"]
    show_columns = ["title", "vendor", "body", "created_by", "created_on", "changed_by", "changed_on"]
    add_columns = edit_columns = ["vendor", "title", "body"]
    search_columns = ["title", "body"]
    label_columns = CANNED_LABELS
    base_order = ("title", "asc")

    description_columns = {"body": LazyString(lambda: gettext("Placeholders: %(list)s.", list=", ".join(
        "{%s} (%s)" % (name, label) for name, label in rules.PLACEHOLDERS.items())))}

    def pre_add(self, item):
        refusal = rules.placeholder_refusal(item.body)
        if refusal is not None:
            raise refusal

    pre_update = pre_add


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
    # Reading and commenting for everyone who has the extranet; changing and deleting
    # for Admin only.
    base_permissions = ["can_get", "can_info", "can_put", "can_delete", "can_comment"]

    def pre_update(self, item):
        rules.check_edit(item)

    def _ticket(self, pk):
        return self.datamodel.get(pk, self._base_filters)

    @staticmethod
    def _entry(entry):
        return {"when": OffsetDateTime()._serialize(entry.when, None, None), "state": entry.state.value,
                "author": entry.author.username if entry.author else None, "text": entry.text,
                "internal": entry.internal, "event": entry.event,
                "attachment": entry.attachment.id if entry.attachment else None}

    @expose("/<int:pk>/comments", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def comments(self, pk):
        """The ticket's history as the reader may see it (internal notes: vendor staff only).
        ---
        get:
          summary: A ticket's comments and transitions, newest first
          parameters:
          - {in: path, name: pk, schema: {type: integer}}
          responses:
            200:
              description: The history
            404:
              $ref: '#/components/responses/404'
        """
        ticket = self._ticket(pk)
        if ticket is None:
            return self.response_404()
        return self.response(200, result=[self._entry(entry) for entry in rules.history(ticket)])

    @expose("/<int:pk>/comments", methods=["POST"])
    @protect()
    @safe
    @permission_name("comment")
    def add_comment(self, pk):
        """Comment on a ticket, or (vendor staff) write an internal note.
        ---
        post:
          summary: Add a comment or an internal note to a ticket
          parameters:
          - {in: path, name: pk, schema: {type: integer}}
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [text]
                  properties: {text: {type: string}, internal: {type: boolean}}
          responses:
            201:
              description: Added
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        ticket = self._ticket(pk)
        if ticket is None:
            return self.response_404()

        def add():
            body = read_json({"text": str, "internal": bool})
            return rules.add_comment(ticket, g.user, body.get("text", ""), internal=body.get("internal", False))

        return self.run_rule(add, 201, lambda comment: {"id": comment.id, "internal": comment.internal})

    @expose("/<int:pk>/assign", methods=["POST"])
    @protect()
    @safe
    @permission_name("transition")
    def assign(self, pk):
        """Assign a ticket to an agent of its project (vendor staff).
        ---
        post:
          summary: Assign a ticket to a chosen agent of the project
          parameters:
          - {in: path, name: pk, schema: {type: integer}}
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [assignee]
                  properties: {assignee: {type: integer}, comment: {type: string}}
          responses:
            200:
              description: Assigned; the ticket's state and assignee
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        ticket = self._ticket(pk)
        if ticket is None:
            return self.response_404()

        def assign():
            body = read_json({"assignee": int, "comment": str})
            agent = next((a for a in rules.assignable_agents(ticket.project) if a.id == body.get("assignee")), None)
            return rules.assign(ticket, g.user, agent, body.get("comment", ""))

        return self.run_rule(assign, answer=lambda _: {"id": ticket.id, "state": ticket.state.value,
                                                       "assignee": ticket.assignee_id})


def _form_int(name):
    try:
        return inputs.int64(request.values.get(name) or 0) or None
    except ValueError:
        return None


class ExtranetView(BaseView):
    """The client's pages (French "extranet"): projects, tickets, visibility list."""

    route_base = "/extranet"
    default_view = "projects"
    class_permission_name = "Extranet"
    method_permission_name = {
        "home": "read", "projects": "read", "project": "read", "my_tickets": "read", "ticket": "read",
        "visibility": "read", "new_ticket": "write", "act": "write", "attach": "write", "assign": "write",
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

    @expose("/home")
    @has_access
    def home(self):
        """The desk's landing page: vendor staff land on their queue, clients on their projects."""
        if self.appbuilder.sm.has_access("can_read", "TicketQueues"):
            return redirect(url_for("TicketQueueView.queue", name="mine"))
        return redirect(url_for(".projects"))

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
        page = max(0, _form_int("page") or 0)
        count, tickets = rules.my_tickets(g.user, page, MY_TICKETS_PAGE_SIZE)
        return self.render_template("tickets/my_tickets.html", title=gettext("My tickets"), tickets=tickets,
                                    count=count, page=page, has_next=count > (page + 1) * MY_TICKETS_PAGE_SIZE,
                                    last=rules.last_comments(tickets), bold=rules.CONTEXT_REQUIRED)

    def _render_ticket(self, ticket, draft="", pending=(), status=200):
        user = g.user
        refusal = rules.comment_refusal(user, ticket)
        may_assign = rules.may_assign(user, ticket)
        notes = rules.may_write_notes(user, ticket)
        canned = rules.canned_answers(ticket) if notes else []
        if not draft and request.method == "GET" and notes:
            draft = rules.canned_text(ticket, user, _form_int("canned"))
        transitions = rules.available(ticket, user)
        if may_assign:  # assigning has its own form, with the choice of the agent
            transitions = [t for t in transitions if t.name != "assign"]
        page = self.render_template(
            "tickets/ticket.html", title=str(ticket), ticket=ticket, history=rules.history(ticket),
            closed=rules.closed_refusal(ticket) is not None,
            attachments=rules.attachments(ticket), transitions=transitions,
            may_comment=refusal is None, comment_refusal=refusal, may_write_notes=notes,
            may_assign=may_assign, agents=rules.assignable_agents(ticket.project) if may_assign else [],
            canned=canned, draft=draft, pending=pending, due=rules.response_due(ticket),
            max_attachments=rules.MAX_ATTACHMENTS)
        return page, status

    @expose("/ticket/<reference>")
    @has_access
    def ticket(self, reference):
        return self._render_ticket(self._ticket(reference))

    def _keep_files(self, field, names):
        """The files of this form kept as pending uploads (committed, so a refusal of the
        form keeps them), with those kept by an earlier try; None if a file is refused."""
        kept = rules.pending_uploads(g.user, request.form.getlist("pending"))
        with Attempt() as attempt:
            kept += rules.keep_uploads(g.user, request.files.getlist(names), field=field)
        return None if attempt.refused is not None else kept

    @expose("/ticket/<reference>/act", methods=["POST"])
    @has_access
    def act(self, reference):
        """A comment, an internal note, or a transition with its comment, each with an
        optional attachment; refused, the form comes back with its text and file."""
        ticket = self._ticket(reference)
        name = request.form.get("action", "comment")
        text = request.form.get("comment", "")
        kept = self._keep_files("attachment", "attachment")
        if kept is None:
            return self._render_ticket(ticket, text, rules.pending_uploads(g.user, request.form.getlist("pending")),
                                       422)
        ids = [f.id for f in kept]
        with Attempt() as attempt:
            if name in ("comment", "note"):
                rules.add_comment(ticket, g.user, text, internal=name == "note", pending=ids)
                attempt.done = (gettext("Your internal note has been added.") if name == "note"
                                else gettext("Your comment has been added."))
            else:
                rules.fire(ticket, name, g.user, text, pending=ids)
                attempt.done = rules.TICKET_WORKFLOW.done_message(name)
        if attempt.refused is not None:
            return self._render_ticket(ticket, text, rules.pending_uploads(g.user, ids), 422)
        return redirect(url_for(".ticket", reference=reference))

    @expose("/ticket/<reference>/assign", methods=["POST"])
    @has_access
    def assign(self, reference):
        """Assign the ticket to the agent chosen in the list (vendor staff)."""
        ticket = self._ticket(reference)
        agent = next((a for a in rules.assignable_agents(ticket.project) if a.id == _form_int("assignee")), None)
        with Attempt() as attempt:
            rules.assign(ticket, g.user, agent, request.form.get("comment", ""))
            attempt.done = gettext("Ticket %(reference)s assigned to %(name)s.", reference=ticket.reference,
                                   name=agent)
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
        pending = []
        if request.method == "POST":
            kept = self._keep_files("attachments", "attachments")
            pending = kept if kept is not None else rules.pending_uploads(g.user, request.form.getlist("pending"))
            if kept is not None:
                with Attempt() as attempt:
                    ticket = rules.create_ticket(project, g.user, draft, pending=[f.id for f in kept])
                    attempt.done = gettext("Ticket %(reference)s created.", reference=ticket.reference)
                if attempt.refused is None:
                    return redirect(url_for(".ticket", reference=ticket.reference))
                pending = rules.pending_uploads(g.user, [f.id for f in kept])
        people = [u for u in rules.follower_candidates(project) if u.id != g.user.id] if project else []
        return self.render_template(
            "tickets/new_ticket.html", title=gettext("Create a ticket"), projects=projects, project=project,
            draft=draft, priorities=list(ProjectTicketPriority), people=people, pending=pending,
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


class TicketQueueView(BaseView):
    """The vendor staff's queues, in their row scope: my tickets, unassigned, waiting
    for the client, overdue (no answer within the response time of the priority)."""

    route_base = "/ticket-queues"
    default_view = "queue"
    class_permission_name = "TicketQueues"
    method_permission_name = {"queue": "read", "assign": "write"}

    @expose("/")
    @expose("/<name>")
    @has_access
    def queue(self, name="mine"):
        if name not in rules.QUEUES:
            abort(404)
        page = max(0, _form_int("page") or 0)
        count, tickets = rules.queue_tickets(name, g.user, page=page)
        agents = {}
        for project in {t.project for t in tickets}:
            agents.update({a.id: a for a in rules.assignable_agents(project)})
        return self.render_template(
            "tickets/queues.html", title=str(rules.QUEUES[name]), queues=rules.QUEUES, current=name,
            counts=rules.queue_counts(g.user), count=count, tickets=tickets, page=page,
            pages=(count + rules.QUEUE_PAGE_SIZE - 1) // rules.QUEUE_PAGE_SIZE,
            agents=sorted(agents.values(), key=lambda a: (a.last_name or "", a.first_name or "")),
            due={t.id: rules.response_due(t) for t in tickets},
            now=rules.utcnow(), bold=rules.CONTEXT_REQUIRED)

    @expose("/assign", methods=["POST"])
    @has_access
    def assign(self):
        """Assign the ticked tickets to the chosen agent, each on its own."""
        keys = [int(k) for k in request.form.getlist("rowid") if k.isdigit()]
        if not all(inputs.is_id(key) for key in keys):  # names no ticket (nor a column's value)
            abort(404)
        tickets = rules.visible_tickets().filter(ProjectTicket.id.in_(keys)).all() if keys else []
        if len(tickets) != len(set(keys)):
            abort(404)
        agent_id = _form_int("assignee")
        agent = next((a for t in tickets for a in rules.assignable_agents(t.project) if a.id == agent_id), None)
        done, refused = rules.assign_many(tickets, g.user, agent)
        if done:
            flash(gettext("%(num)d ticket(s) assigned to %(name)s.", num=len(done), name=agent), "success")
        for ticket, message in refused:
            flash(f"{ticket.reference}: {message}", "danger")
        if not tickets:
            flash(gettext("Tick the tickets to assign."), "warning")
        return redirect(url_for(".queue", name=request.form.get("queue") if request.form.get("queue") in rules.QUEUES
                                else "mine"))


def register(appbuilder):
    appbuilder.add_view(ExtranetView, "MyProjects", href="/extranet/", icon="fa-folder-open",
                        label=_l("My projects"), category=DESK.category)
    appbuilder.add_link("MyTickets", href="/extranet/tickets", icon="fa-list", label=_l("My tickets"),
                        category=DESK.category)
    appbuilder.add_view(TicketQueueView, "TicketQueues", href="/ticket-queues/mine", icon="fa-inbox",
                        label=_l("Ticket queues"), category=DESK.category)
    appbuilder.add_view(ProjectTicketView, "Tickets", icon="fa-tasks", label=_l("Ticket desk"), category=DESK.category)
    appbuilder.add_view(CannedAnswerView, "CannedAnswers", icon="fa-commenting", label=_l("Canned answers"),
                        category=DESK.category)
    appbuilder.add_view(ProjectView, "Projects", icon="fa-briefcase", label=_l("Projects"),
                        category=DESK.category)
    appbuilder.add_api(ProjectTicketApi)
    appbuilder.add_api(ProjectApi)
