"""The REST API as a client uses it: bearer tokens, RFC 3339 datetimes, workflow
transitions as operations, and the desks' write operations through their rules."""
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from flask_appbuilder.api import ModelRestApi

from app.extensions import db
from app.models import Booking, HelpRequest, Project, ProjectTicket, WorkflowEvent
from app.security import ScopedInterface

from .helpers import BearerClient, login, user

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
OFFSET = re.compile(r"(Z|[+-]\d{2}:\d{2})$")


def our_apis(app):
    return [view for view in app.appbuilder.baseviews
            if isinstance(view, ModelRestApi) and isinstance(getattr(view, "datamodel", None), ScopedInterface)]


def datetimes_in(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from datetimes_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from datetimes_in(item)
    elif isinstance(value, str) and DATETIME.match(value):
        yield value


@pytest.mark.parametrize("username, api", [("admin", "booking"), ("creator", "booking"), ("vnoc", "booking"),
                                           ("referent", "helprequest"), ("client", "ticket"), ("agent", "ticket")])
def test_a_bearer_token_sees_what_its_session_sees(app, username, api):
    by_token = BearerClient(app, username).get(f"/api/v1/{api}/?q=(page_size:100)").json
    by_session = login(app.test_client(), username).get(f"/api/v1/{api}/?q=(page_size:100)").json
    assert by_token["count"] == by_session["count"] > 0
    assert by_token["ids"] == by_session["ids"]


def test_every_datetime_the_api_writes_has_its_offset(app):
    client = BearerClient(app, "admin")
    seen = 0
    for view in our_apis(app):
        listing = client.get(f"{view.route_base}/?q=(page_size:5)")
        assert listing.status_code == 200, view.route_base
        found = list(datetimes_in(listing.json["result"]))
        if listing.json["ids"]:
            found += datetimes_in(client.get(f"{view.route_base}/{listing.json['ids'][0]}").json["result"])
        for value in found:
            assert OFFSET.search(value), f"{view.route_base}: {value} has no offset (RFC 3339)"
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        seen += len(found)
    assert seen > 20


def test_local_times_carry_the_local_offset_and_utc_times_utc(app):
    with app.app_context():
        booking = db.session.query(Booking).order_by(Booking.id).first()
        booking_id, start, requested = booking.id, booking.start_at, booking.requested_on
    result = BearerClient(app, "admin").get(f"/api/v1/booking/{booking_id}").json["result"]
    paris = ZoneInfo(app.config["TIMEZONE"])
    assert datetime.fromisoformat(result["start_at"]) == start.replace(tzinfo=paris)
    assert result["start_at"].endswith(start.replace(tzinfo=paris).strftime("%z")[:3] + ":00")
    assert datetime.fromisoformat(result["requested_on"]) == requested.replace(tzinfo=ZoneInfo("UTC"))
    assert result["requested_on"].endswith("+00:00")


# ---------------------------------------------------------------------------
# Workflow transitions as API operations, with the grid's rules
# ---------------------------------------------------------------------------


def _pending_booking(app, organisation="Rectorat de l'académie de Lyon"):
    from app.models import BookingState, Organisation

    with app.app_context():
        return db.session.query(Booking.id).join(Organisation, Organisation.id == Booking.organisation_id).filter(
            Booking.state == BookingState.pending, Organisation.name == organisation).order_by(Booking.id).first()[0]


def _state_and_events(app, model, pk):
    with app.app_context():
        item = db.session.get(model, pk)
        state = item.status if model is HelpRequest else item.state
        events = db.session.query(WorkflowEvent).filter_by(object_type=model.__tablename__, object_id=pk).count()
        return state.value, events


def _new_booking(app, weeks_ahead):
    """A pending booking of its own (the demo's stay as other tests expect them)."""
    from datetime import date, time, timedelta

    from app.models import Room
    from app.rules import booking as booking_rules

    with app.app_context():
        room = db.session.query(Room).filter(Room.organisation.has(name="Rectorat de l'académie de Lyon")).first()
        start = date.today() + timedelta(weeks=weeks_ahead)
        day = start - timedelta(days=start.weekday()) + timedelta(days=1)
        draft = booking_rules.BookingDraft(
            room_ids=[room.id], session_name="Point d'étape API", organiser_name="Hélène Brun",
            organiser_email="helene.brun@ac-lyon.example", organiser_phone="04 72 80 60 00", day=day,
            start_time=time(10), end_time=time(11))
        booking = booking_rules.create_booking(draft, user("creator"), [room])
        db.session.commit()
        return booking.id


def test_the_vnoc_validates_a_booking_through_the_api(app):
    booking_id = _new_booking(app, 40)
    before = _state_and_events(app, Booking, booking_id)
    response = BearerClient(app, "vnoc").post(f"/api/v1/booking/{booking_id}/transition/validate", json={})
    assert response.status_code == 200, response.json
    assert (response.json["state"], response.json["state_label"]) == ("validated", "Validée")
    assert response.json["event"]["actor"] == "vnoc" and OFFSET.search(response.json["event"]["happened_on"])
    assert _state_and_events(app, Booking, booking_id) == ("validated", before[1] + 1)


@pytest.mark.parametrize("username, name, body, field", [
    ("creator", "validate", {}, "_schema"),            # a Booker may not validate
    ("vnoc", "refuse", {"comment": "  "}, "comment"),  # a refusal needs its reason
    ("vnoc", "refuse", {"comment": 42}, "comment"),    # and a text
])
def test_a_refused_transition_names_why_and_changes_nothing(app, username, name, body, field):
    booking_id = _pending_booking(app)
    before = _state_and_events(app, Booking, booking_id)
    response = BearerClient(app, username).post(f"/api/v1/booking/{booking_id}/transition/{name}", json=body)
    assert response.status_code == 422, response.json
    assert list(response.json["message"]) == [field] and response.json["message"][field][0]
    assert _state_and_events(app, Booking, booking_id) == before


def test_out_of_scope_rows_and_unknown_transitions_answer_404(app):
    theirs = _pending_booking(app, "Université Grenoble Alpes")
    mine = _pending_booking(app)
    creator = BearerClient(app, "creator")
    assert creator.post(f"/api/v1/booking/{theirs}/transition/cancel", json={}).status_code == 404
    assert creator.post(f"/api/v1/booking/{mine}/transition/explode", json={}).status_code == 404
    assert BearerClient(app, "client").post(f"/api/v1/booking/{mine}/transition/cancel", json={}).status_code == 403
    assert _state_and_events(app, Booking, theirs)[0] == _state_and_events(app, Booking, mine)[0] == "pending"


def test_help_requests_and_tickets_move_through_the_api_too(app):
    from app.rules import tickets as ticket_rules

    request_id = BearerClient(app, "student").post("/api/v1/helprequest/", json={
        "application": _application_id(app), "subject": "Agenda vide", "description": "Plus rien ne s'affiche."}
    ).json["id"]
    with app.app_context():
        project = db.session.query(Project).filter_by(name="Billetterie Festival 2026").one()
        ticket_id = ticket_rules.create_ticket(project, user("client"), ticket_rules.TicketDraft(
            title="Ventes comptées deux fois", priority="low")).id
        db.session.commit()
    referent = BearerClient(app, "referent")
    assert referent.post(f"/api/v1/helprequest/{request_id}/transition/open", json={"comment": "Je regarde."}
                         ).json["state"] == "open"
    assert BearerClient(app, "referent2").post(f"/api/v1/helprequest/{request_id}/transition/resolve",
                                               json={}).status_code == 404
    agent = BearerClient(app, "agent")
    assert agent.post(f"/api/v1/ticket/{ticket_id}/transition/assign", json={}).json["state"] == "assigned"
    refused = BearerClient(app, "client").post(f"/api/v1/ticket/{ticket_id}/transition/process", json={})
    assert refused.status_code == 422 and _state_and_events(app, ProjectTicket, ticket_id)[0] == "assigned"


# ---------------------------------------------------------------------------
# The desks' write operations, through their rules
# ---------------------------------------------------------------------------


def _application_id(app):
    from app.models import EntApplication

    with app.app_context():
        return db.session.query(EntApplication.id).filter_by(active=True).order_by(EntApplication.id).first()[0]


def test_a_help_request_is_filed_commented_and_answered_through_the_api(app):
    from app.models import Notification

    student, referent = BearerClient(app, "student"), BearerClient(app, "referent")
    filed = student.post("/api/v1/helprequest/", json={
        "application": _application_id(app), "subject": "Mot de passe oublié dans l'application mobile",
        "description": "L'application me redemande sans cesse de me connecter."})
    assert filed.status_code == 201, filed.json
    request_id = filed.json["id"]
    shown = referent.get(f"/api/v1/helprequest/{request_id}").json["result"]
    assert (shown["status"], shown["requester"]["username"]) == ("new", "student")
    with app.app_context():
        assert db.session.query(Notification).filter_by(
            template="ent/request_created", link=f"/helprequests/show/{request_id}").count() == 1
    assert referent.post(f"/api/v1/helprequest/{request_id}/comment", json={"comment": "Avez-vous réinstallé ?"}
                         ).status_code == 201
    assert referent.post(f"/api/v1/helprequest/{request_id}/transition/escalate", json={}).status_code == 200
    answered = BearerClient(app, "desk").post(f"/api/v1/helprequest/{request_id}/answer",
                                              json={"comment": "Corrigé dans la version 3.2."})
    assert answered.status_code == 201, answered.json
    with app.app_context():
        kinds = [e.transition for e in db.session.query(WorkflowEvent).filter_by(
            object_type="ent_request", object_id=request_id).order_by(WorkflowEvent.id)]
    assert kinds == ["create", "comment", "escalate", "support_answer"]


@pytest.mark.parametrize("body, field", [
    ({"subject": "Sans application", "description": "…"}, "application"),
    ({"application": "messagerie", "subject": "Sujet", "description": "…"}, "application"),
    ({"application": 1, "subject": "", "description": "…"}, "subject"),
    ({"application": 1, "subject": ["liste"], "description": "…"}, "subject"),
    ({"application": 1, "subject": "Sujet", "description": "   "}, "description"),
])
def test_a_refused_help_request_names_its_field_and_writes_nothing(app, body, field):
    with app.app_context():
        before = db.session.query(HelpRequest).count()
    response = BearerClient(app, "student").post("/api/v1/helprequest/", json=body)
    assert response.status_code == 422 and list(response.json["message"]) == [field], response.json
    with app.app_context():
        assert db.session.query(HelpRequest).count() == before


def test_only_the_support_desk_answers_and_only_in_scope(app):
    from app.models import HelpRequestStatus

    with app.app_context():
        item = db.session.query(HelpRequest).filter(HelpRequest.escalated_on.is_(None),
                                                    HelpRequest.status != HelpRequestStatus.closed,
                                                    HelpRequest.organisation.has(name="Lycée Victor Hugo")).first()
        request_id = item.id
    assert BearerClient(app, "referent").post(f"/api/v1/helprequest/{request_id}/answer",
                                              json={"comment": "…"}).status_code == 403
    assert BearerClient(app, "desk").post(f"/api/v1/helprequest/{request_id}/answer",
                                          json={"comment": "…"}).status_code == 404
    assert BearerClient(app, "referent2").post(f"/api/v1/helprequest/{request_id}/comment",
                                               json={"comment": "…"}).status_code == 404


def test_the_client_lead_keeps_the_visibility_list_through_the_api(app):
    from app.models import DelegationLog, ProjectViewer

    with app.app_context():
        project = db.session.query(Project).filter_by(name="Billetterie Festival 2026").one()
        project_id, cmartin_id = project.id, db.session.query(type(project.client_lead)).filter_by(
            username="cmartin").one().id
        logged = db.session.query(DelegationLog).count()
    lead = BearerClient(app, "client")
    assert lead.post(f"/api/v1/project/{project_id}/viewers", json={"user": cmartin_id}).status_code == 201
    again = lead.post(f"/api/v1/project/{project_id}/viewers", json={"user": cmartin_id})
    assert again.status_code == 422 and list(again.json["message"]) == ["user"]
    not_the_lead = BearerClient(app, "cmartin").delete(f"/api/v1/project/{project_id}/viewers/{cmartin_id}")
    assert not_the_lead.status_code == 422 and "chef de projet client" in not_the_lead.json["message"]["_schema"][0]
    assert lead.delete(f"/api/v1/project/{project_id}/viewers/{cmartin_id}").status_code == 200
    with app.app_context():
        assert db.session.query(ProjectViewer).filter_by(project_id=project_id).count() == 0
        assert db.session.query(DelegationLog).count() == logged + 2
    assert BearerClient(app, "client2").post(f"/api/v1/project/{project_id}/viewers",
                                             json={"user": cmartin_id}).status_code == 404
