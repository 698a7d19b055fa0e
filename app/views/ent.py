"""Desk C, ENT help and support — the screens (ENT: espace numérique de travail, a
school's online workspace; UAI: an establishment's national code): the "new
request" form, the requests grid and page (events, comments, support answers,
status changes, escalation), the requester's profile, the application catalogue and
the establishments' settings.
"""
from flask import abort, g, redirect, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.api import safe
from flask_appbuilder.models.sqla.filters import FilterIn
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.security.decorators import has_access, permission_name, protect
from flask_appbuilder.security.sqla.models import User
from flask_babel import gettext, lazy_gettext as _l
from markupsafe import Markup

from ..extensions import db
from ..models import (
    ENT_PROFILE_LABELS,
    HELP_REQUEST_STATUS_LABELS,
    EntApplication,
    EntEstablishment,
    HelpRequest,
    HelpRequestStatus,
)
from ..platform import files, inputs
from ..rules import ent as rules
from ..security import ScopedInterface, apply_scope, role_names
from ..desks import desk_of
from .base import Attempt, GuichetModelRestApi, GuichetModelView, WorkflowModelView, read_json

DESK = desk_of(__name__)

REQUEST_LABELS = {
    "id": _l("No."),
    "summary": _l("Request"),
    "subject": _l("Subject"),
    "description": _l("Description"),
    "status": _l("Status"),
    "application": _l("Application"),
    "organisation": _l("Establishment"),
    "requester": _l("Requester"),
    "requester_profile": _l("Profile"),
    "event_count": _l("Events"),
    "support_reference": _l("Support reference"),
    "support_state": _l("Support"),
    "created_on": _l("Created on"),
    "changed_on": _l("Changed on"),
}


class StatusIsOneOf(FilterIn):
    """Status among the ticked ones (the list's combinable status filter)."""

    name = _l("Is one of")

    def __init__(self, column_name, datamodel, is_related_view=False):
        # FAB's BaseFilter would register this class as the REST API's "in"
        # operator for every model: keep FAB's own there.
        self.column_name, self.datamodel, self.model = column_name, datamodel, datamodel.obj
        self.is_related_view = is_related_view

    def apply(self, query, value):
        values = value if isinstance(value, list) else [value]
        statuses = [HelpRequestStatus(v) for v in values if v in HelpRequestStatus.__members__]
        if not statuses:
            return query
        return query.filter(HelpRequest.status.in_(statuses))


class CreatedByMe(BaseFilter):
    """Requests the signed-in person filed (the referents' "created by me" box)."""

    name = _l("Created by me")

    def apply(self, query, value):
        if not value or value in ("0", "n"):
            return query
        return query.filter(HelpRequest.requester_id == g.user.id)


def _requester_link(user):
    if user is None:
        return ""
    return Markup('<a href="{}">{}</a>').format(
        url_for("HelpRequestView.requester", user_id=user.id), user.get_full_name())


def _summary(value):
    description = value.description if len(value.description) <= 160 else value.description[:157] + "…"
    return Markup("<strong>{}</strong><br><span class=\"text-muted\">{}</span>").format(
        value.subject, description)


def _status_badge(value):
    status = HelpRequestStatus(value)
    css = {"new": "label-info", "open": "label-primary", "resolved": "label-success",
           "closed": "label-default"}[status.value]
    return Markup('<span class="label {}">{}</span>').format(css, str(status))


class HelpRequestView(WorkflowModelView):
    datamodel = ScopedInterface(HelpRequest)
    workflow = rules.REQUEST_WORKFLOW
    route_base = "/helprequests"
    list_title = _l("Help requests")
    show_title = _l("Help request")
    list_template = "ent/list.html"
    show_template = "ent/show.html"
    list_columns = ["id", "summary", "status", "application", "organisation", "requester",
                    "requester_profile", "event_count", "support_reference", "created_on"]
    show_columns = ["id", "subject", "description", "status", "application", "organisation", "requester",
                    "requester_profile", "event_count", "support_reference", "support_state", "created_on"]
    # Requests are filed through "new request" and change through their events;
    # FAB's add/edit forms are not offered (see base_permissions).
    add_columns = edit_columns = ["subject", "description"]
    search_columns = ["status", "requester", "application", "organisation", "subject",
                      "support_reference"]
    order_columns = ["id", "status", "application", "organisation", "created_on"]
    label_columns = REQUEST_LABELS
    formatters_columns = {"requester": _requester_link, "summary": _summary, "status": _status_badge}
    base_order = ("id", "desc")
    base_permissions = ["can_list", "can_show", "can_export", "can_home", "can_new", "can_reply",
                        "can_requester"]

    def _init_properties(self):
        super()._init_properties()
        for column, extra in (("status", StatusIsOneOf), ("requester", CreatedByMe)):
            for registry in (self._filters._all_filters, self._filters.get_search_filters()):
                registry[column] = [*registry[column], extra(column, self.datamodel)]

    def _filter_arg(self, column, filter_class):
        position = [type(f) for f in self._filters.get_search_filters()[column]].index(filter_class)
        return f"_flt_{position}_{column}"

    def render_template(self, template, **kwargs):
        if template == self.list_template:
            status_arg = self._filter_arg("status", StatusIsOneOf)
            mine_arg = self._filter_arg("requester", CreatedByMe)
            kwargs.update(
                status_arg=status_arg, mine_arg=mine_arg,
                status_choices=[(s.value, label) for s, label in HELP_REQUEST_STATUS_LABELS.items()],
                checked_statuses=set(request.args.getlist(status_arg)),
                mine_checked=request.args.get(mine_arg) == "1",
                show_mine=rules.ENT_REFERENT in role_names(g.user),
            )
        return super().render_template(template, **kwargs)

    @expose("/home")
    @has_access
    def home(self):
        """Referents and the support desk land on the list, everyone else on "new request"."""
        may_file = self.appbuilder.sm.has_access("can_new", self.class_permission_name)
        return redirect(url_for(rules.landing(g.user, may_file)))

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def new(self):
        user = g.user
        establishments = rules.establishments_of(user)
        form = request.form
        if request.method == "POST":
            filed = gettext("Your request has been filed: your establishment's referents are notified.")
            with Attempt(done=filed) as attempt:
                item = rules.create_request(
                    user, application_id=form.get("application", type=inputs.int64), subject=form.get("subject"),
                    description=form.get("description"), organisation_id=form.get("establishment", type=inputs.int64),
                    profile=form.get("profile"), uploads=request.files.getlist("attachments"))
            if attempt.refused is None:
                return redirect(url_for(".show", pk=item.id))
        return self.render_template(
            "ent/new.html", title=gettext("New help request"), form=form,
            applications=rules.active_applications(), establishments=establishments,
            ask_profile=rules.profile_of(user) is None,
            profiles=[(p.value, label) for p, label in ENT_PROFILE_LABELS.items()],
        )

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        item = self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters)
        if item is None:
            abort(404)
        user, sm = g.user, self.appbuilder.sm
        return self.render_template(
            self.show_template, title=str(item), item=item, pk=item.id, workflow=self.workflow,
            history=rules.events_of(item), attachments=files.files_of(item),
            requester_link=_requester_link(item.requester), status_badge=_status_badge(item.status),
            buttons=[t for t in self.workflow.available(item, user)
                     if t.name in rules.OWN_BUTTONS and sm.has_access(t.name, self.class_permission_name)],
            may_reply=rules.may_reply(user, item) and sm.has_access("can_reply", self.class_permission_name),
            reply_choices=[t for t in rules.reply_choices(item, user)
                           if sm.has_access(t.name, self.class_permission_name)],
            answers=rules.may_answer(user, item) and not rules.may_comment(user, item),
        )

    @expose("/reply/<pk>", methods=["POST"])
    @has_access
    def reply(self, pk):
        """The reply box: a message and/or a status change, both or nothing."""
        item = self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters)
        if item is None:
            abort(404)
        then = request.form.get("then") or None
        if then and not self.appbuilder.sm.has_access(then, self.class_permission_name):
            then = "-"  # refused by the rule, naming the status field
        with Attempt(done=gettext("Your reply has been added to the request.")):
            rules.reply(item, g.user, request.form.get("comment", ""), request.files.get("attachment"), then)
        return redirect(url_for(".show", pk=pk))

    @expose("/requester/<int:user_id>")
    @has_access
    def requester(self, user_id):
        """A requester's profile: for whoever sees at least one of their requests."""
        person = db.session.get(User, user_id)
        if person is None:
            abort(404)
        requests = apply_scope(db.session.query(HelpRequest), HelpRequest).filter(
            HelpRequest.requester_id == user_id).order_by(HelpRequest.id.desc()).limit(100).all()
        if not requests and person.id != g.user.id:
            abort(404)
        return self.render_template(
            "ent/requester.html", title=person.get_full_name(), person=person,
            profile=rules.profile_of(person), establishments=rules.establishments_of(person),
            requests=requests, status_badge=_status_badge,
        )


class HelpRequestApi(GuichetModelRestApi):
    """Help requests: read in scope; filed, commented and answered through the desk's
    rules (as the pages do), never written column by column."""

    grid = HelpRequestView
    resource_name = "helprequest"
    base_permissions = ["can_get", "can_info", "can_post", "can_comment", "can_answer"]
    include_route_methods = {"get", "get_list", "info", "post", "comment", "answer"}
    add_title = _l("New help request")
    edit_title = _l("Help request")
    # The grid's request column shows subject and description together: the API gives both.
    list_columns = ["id", "subject", "status", "application.name", "organisation.name",
                    "requester.username", "requester_profile", "support_reference", "created_on"]
    order_columns = ["id", "created_on"]

    @expose("/", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def post(self):
        """File a help request, as "new request" does.
        ---
        post:
          summary: File a help request to one's establishment's referents
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [application, subject, description]
                  properties:
                    application: {type: integer, description: "the application concerned (id)"}
                    subject: {type: string}
                    description: {type: string}
                    establishment: {type: integer, description: "asked when one belongs to several"}
                    profile: {type: string, enum: [student, teacher, parent, staff]}
          responses:
            201:
              description: Filed
              content:
                application/json:
                  schema: {type: object, properties: {id: {type: integer}}}
            401:
              $ref: '#/components/responses/401'
            422:
              $ref: '#/components/responses/422'
        """
        def file():
            values = read_json({"application": int, "subject": str, "description": str, "establishment": int,
                                "profile": str})
            return rules.create_request(
                g.user, application_id=values.get("application"), subject=values.get("subject"),
                description=values.get("description"), organisation_id=values.get("establishment"),
                profile=values.get("profile"))

        return self.run_rule(file, 201, lambda item: {"id": item.id})

    def _message(self, pk, record):
        return self.run_on_row(pk, lambda item: record(item, g.user, read_json({"comment": str}).get("comment", "")),
                               201, lambda event: {"id": pk, "event": event.transition})

    @expose("/<int:pk>/comment", methods=["POST"])
    @protect()
    @safe
    @permission_name("comment")
    def comment(self, pk):
        """Comment on a help request (the requester or a referent).
        ---
        post:
          summary: Comment on a help request
          parameters:
          - {in: path, name: pk, schema: {type: integer}}
          requestBody:
            content:
              application/json:
                schema: {type: object, properties: {comment: {type: string}}}
          responses:
            201:
              description: Recorded
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        return self._message(pk, rules.add_comment)

    @expose("/<int:pk>/answer", methods=["POST"])
    @protect()
    @safe
    @permission_name("answer")
    def answer(self, pk):
        """The support desk's answer on an escalated request.
        ---
        post:
          summary: Answer an escalated help request as the support desk
          parameters:
          - {in: path, name: pk, schema: {type: integer}}
          requestBody:
            content:
              application/json:
                schema: {type: object, properties: {comment: {type: string}}}
          responses:
            201:
              description: Recorded
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        return self._message(pk, rules.support_answer)


class EntApplicationView(GuichetModelView):
    datamodel = ScopedInterface(EntApplication)
    route_base = "/entapplications"
    list_title = _l("Workspace applications")
    show_title = _l("Workspace application")
    add_title = _l("Add an application")
    edit_title = _l("Edit an application")
    list_columns = ["name", "description", "active"]
    show_columns = add_columns = edit_columns = ["name", "description", "active"]
    search_columns = ["name", "active"]
    label_columns = {"name": _l("Name"), "description": _l("Description"), "active": _l("Active")}
    base_order = ("name", "asc")


class EntEstablishmentView(GuichetModelView):
    datamodel = ScopedInterface(EntEstablishment)
    route_base = "/entestablishments"
    list_title = _l("Establishments")
    show_title = _l("Establishment")
    add_title = _l("Add an establishment")
    edit_title = _l("Edit an establishment")
    list_columns = ["organisation", "uai", "support_desk"]
    show_columns = add_columns = edit_columns = ["organisation", "uai", "support_desk"]
    search_columns = ["organisation", "uai", "support_desk"]
    label_columns = {"organisation": _l("Establishment"), "uai": _l("UAI code"),
                     "support_desk": _l("Support desk")}
    description_columns = {"support_desk": _l("Where referents transmit requests; none: no escalation.")}
    base_order = ("id", "asc")


def register(appbuilder):
    appbuilder.add_link("NewHelpRequest", href="/helprequests/new", icon="fa-plus-circle",
                        label=_l("New request"), category=DESK.category)
    appbuilder.add_view(HelpRequestView, "HelpRequests", icon="fa-list", label=_l("Help requests"),
                        category=DESK.category)
    appbuilder.add_view(EntApplicationView, "EntApplications", icon="fa-th", label=_l("Applications"),
                        category=DESK.category)
    appbuilder.add_view(EntEstablishmentView, "EntEstablishments", icon="fa-university",
                        label=_l("Establishments"), category=DESK.category)
    appbuilder.add_api(HelpRequestApi)
