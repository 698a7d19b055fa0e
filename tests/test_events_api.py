"""Desk D's REST API writes, over bearer tokens as a client sends them: booking,
deleting a pre-reservation, giving a place, cancelling an event, validating an extra
item, and the places' transitions. Each goes through the desk's rule: a wrong body is
a 422 naming the field and changes nothing, a row out of one's scope is a 404."""
import pytest

from app.extensions import db
from app.models import Event, EventVisibility, Reservation, ReservationState, TicketType
from app.rules import events as rules

from .helpers import BearerClient, user
from .test_events_places import new_event, snapshot

API = "/api/v1/reservation"


@pytest.fixture(scope="module")
def bearer(app):
    clients = {}

    def make(username):
        if username not in clients:
            clients[username] = BearerClient(app, username)
        return clients[username]

    return make


def _field(response):
    assert response.status_code == 422, (response.status_code, response.get_data(as_text=True))
    [field] = response.json["message"]
    return field


def test_booking_answers_201_with_the_places_and_a_second_booking_names_the_ticket(app, bearer):
    with app.app_context():
        event_id, ticket_type_id = new_event(price="6", limit=1)
    body = {"event": event_id, "ticket_type": ticket_type_id,
            "guests": [{"name": "Jeanne Invitée", "email": "jeanne@example.org"}]}
    response = bearer("etudiant2").post(f"{API}/", json=body)
    assert response.status_code == 201, response.json
    ids = response.json["ids"]
    assert len(ids) == 2 and response.json["states"] == ["prereserved", "prereserved"]
    assert response.json["total"] == "12.00"
    with app.app_context():
        holder, guest = (db.session.get(Reservation, i) for i in ids)
        assert holder.holder.username == "etudiant2" and guest.guest_name == "Jeanne Invitée"
        assert guest.sponsor.username == "etudiant2"
        before = snapshot(event_id)
    again = bearer("etudiant2").post(f"{API}/", json={"event": event_id, "ticket_type": ticket_type_id})
    assert _field(again) == "ticket_type"
    with app.app_context():
        assert snapshot(event_id) == before


@pytest.mark.parametrize("body, field", [
    ([1, 2], "_schema"),
    ("a text", "_schema"),
    ({}, "event"),
    ({"event": "one"}, "event"),
    ({"event": 2 ** 63}, "event"),
    ({"event": True}, "event"),
    ({"event": 987654321}, "event"),
    ({"ticket_type": "x"}, "ticket_type"),
    ({"options": 3}, "options"),
    ({"options": [True]}, "options"),
    ({"options": ["1"]}, "options"),
    ({"options": [987654]}, "options"),
    ({"guests": {"name": "x"}}, "guests"),
    ({"guests": [1]}, "guests[0]"),
    ({"guests": [{"name": 5}]}, "guests[0].name"),
    ({"guests": [{"name": "Léa", "ticket_type": "x"}]}, "guests[0].ticket_type"),
    ({"guests": [{"name": "Léa", "options": [1.5]}]}, "guests[0].options"),
    ({"guests": [{"name": "Léa"}]}, "guests"),  # the event allows no guest
    ({"ticket_type": None}, "ticket_type"),
    ({"ticket_type": "other event"}, "ticket_type"),
])
def test_a_wrong_booking_body_is_a_422_naming_its_field_and_changes_nothing(app, bearer, body, field):
    with app.app_context():
        event_id, ticket_type_id = new_event(price="3")
        _, other_type = new_event()
        before = snapshot(event_id)
    if isinstance(body, dict) and body and "event" not in body:
        body = {"event": event_id, "ticket_type": ticket_type_id, **body}
        if body["ticket_type"] == "other event":
            body["ticket_type"] = other_type
    response = bearer("etudiant").post(f"{API}/", json=body)
    assert _field(response) == field
    with app.app_context():
        assert snapshot(event_id) == before


def test_a_holder_deletes_a_pre_reservation_others_cannot_see_it_a_reservation_stays(app, bearer):
    with app.app_context():
        event_id, ticket_type_id = new_event(price="4")
        event = db.session.get(Event, event_id)
        [pending] = rules.book(user("etudiant"), event, ticket_type_id)
        [paid] = rules.book(user("etudiant2"), event, ticket_type_id)
        db.session.commit()
        rules.RESERVATION_WORKFLOW.fire(paid, "mark_paid", user("eventadmin"))
        db.session.commit()
        pending_id, paid_id = pending.id, paid.id
    assert bearer("externe").delete(f"{API}/{pending_id}").status_code == 404
    assert _field(bearer("etudiant2").delete(f"{API}/{paid_id}")) == "_schema"
    assert bearer("etudiant").delete(f"{API}/{pending_id}").status_code == 200
    with app.app_context():
        assert db.session.get(Reservation, pending_id) is None
        assert db.session.get(Reservation, paid_id).state is ReservationState.reserved
        assert db.session.get(TicketType, ticket_type_id).taken == 1


def test_an_organiser_gives_a_place_over_the_api_and_a_student_may_not(app, bearer):
    with app.app_context():
        event_id, ticket_type_id = new_event(price="9", capacity=1)
    body = {"event": event_id, "ticket_type": ticket_type_id, "person": "externe"}
    assert bearer("etudiant").post(f"{API}/give", json=body).status_code == 403
    assert _field(bearer("eventadmin").post(f"{API}/give", json={**body, "person": "nobody-here"})) == "person"
    assert _field(bearer("eventadmin").post(f"{API}/give", json={**body, "person": 12})) == "person"
    assert _field(bearer("eventadmin").post(f"{API}/give", json={"event": event_id, "ticket_type": ticket_type_id})
                  ) == "person"
    assert _field(bearer("clubadmin").post(f"{API}/give", json=body)) == "_schema"  # no level on the event
    response = bearer("eventadmin").post(f"{API}/give", json=body)
    assert response.status_code == 201 and response.json["states"] == ["prereserved"]
    assert _field(bearer("eventadmin").post(f"{API}/give", json={**body, "person": "etudiant"})) == "ticket_type"
    with app.app_context():
        [(place_id, holder_id, _)], counters = snapshot(event_id)
        assert place_id == response.json["ids"][0] and holder_id == user("externe").id
        assert counters == [(ticket_type_id, 1)]


def test_mark_paid_and_oppose_over_a_bearer_token(app, bearer):
    with app.app_context():
        event_id, ticket_type_id = new_event(price="15")
        event = db.session.get(Event, event_id)
        first, second = (rules.book(user(name), event, ticket_type_id)[0].id for name in ("etudiant", "etudiant2"))
        db.session.commit()
    assert bearer("etudiant").post(f"{API}/{first}/transition/mark_paid").status_code == 403
    response = bearer("eventadmin").post(f"{API}/{first}/transition/mark_paid")
    assert response.status_code == 200 and response.json["state"] == "reserved"
    assert response.json["event"]["actor"] == "eventadmin"
    assert _field(bearer("eventadmin").post(f"{API}/{second}/transition/oppose", json={})) == "comment"
    assert _field(bearer("eventadmin").post(f"{API}/{second}/transition/oppose", json={"comment": 3})) == "comment"
    response = bearer("eventadmin").post(f"{API}/{second}/transition/oppose", json={"comment": "Doublon"})
    assert response.status_code == 200 and response.json["state"] == "opposed"
    assert bearer("clubadmin").post(f"{API}/{first}/transition/oppose", json={"comment": "x"}).status_code == 404
    with app.app_context():
        assert db.session.get(Reservation, first).paid_on is not None
        assert db.session.get(Reservation, second).opposition_reason == "Doublon"
        assert db.session.get(TicketType, ticket_type_id).taken == 1


def test_cancelling_over_the_api_deletes_the_pre_reservations(app, bearer):
    with app.app_context():
        event_id, ticket_type_id = new_event(price="5", visibility=EventVisibility.private)
        event = db.session.get(Event, event_id)
        pending = rules.give_place(user("eventadmin"), event, ticket_type_id, "etudiant")
        db.session.commit()
        pending_id = pending.id
    assert bearer("etudiant").post(f"/api/v1/event/{event_id}/cancel").status_code == 403
    assert bearer("clubadmin").post(f"/api/v1/event/{event_id}/cancel").status_code == 404  # private: unseen
    response = bearer("eventadmin").post(f"/api/v1/event/{event_id}/cancel")
    assert response.status_code == 200 and response.json == {"deleted": 1, "to_refund": 0}
    assert _field(bearer("eventadmin").post(f"/api/v1/event/{event_id}/cancel")) == "_schema"  # already
    with app.app_context():
        assert db.session.get(Reservation, pending_id) is None
        assert db.session.get(Event, event_id).cancelled
        assert db.session.get(TicketType, ticket_type_id).taken == 0


def test_an_extra_item_is_validated_over_the_api_by_a_validator_only(app, bearer):
    with app.app_context():
        event_id, ticket_type_id = new_event(price="20")
        ticket_type = db.session.get(TicketType, ticket_type_id)
        size = rules.save_extra_info(user("eventadmin"), ticket_type, label="Taille", kind="size")
        diet = rules.save_extra_info(user("eventadmin"), ticket_type, label="Régime", kind="text")
        rules.grant_level(user("eventadmin"), db.session.get(Event, event_id), "checkin", user=user("checker"))
        [place] = rules.book(user("etudiant"), db.session.get(Event, event_id), ticket_type_id)
        rules.answer(user("etudiant"), place, size, "M")
        db.session.commit()
        place_id, size_id, diet_id = place.id, size.id, diet.id
    path = f"{API}/{place_id}/items/{size_id}/validate"
    assert bearer("etudiant").post(path).status_code == 403
    assert _field(bearer("checker").post(path)) == "_schema"  # check-in level only
    assert bearer("eventadmin").post(f"{API}/{place_id}/items/987654/validate").status_code == 404
    assert _field(bearer("eventadmin").post(f"{API}/{place_id}/items/{diet_id}/validate")) == "extra_info"
    response = bearer("eventadmin").post(path)
    assert response.status_code == 200 and response.json["validated_on"].endswith("+00:00")
    assert _field(bearer("eventadmin").post(path)) == "_schema"  # already validated
    with app.app_context():
        answers = {a.extra_info_id: a for a in db.session.get(Reservation, place_id).answers}
        assert answers[size_id].validated_by.username == "eventadmin"


def test_ticket_types_are_created_changed_and_deleted_through_the_configuration_rules(app, bearer):
    with app.app_context():
        event_id, booked_type_id = new_event(price="6")
    manager, student = bearer("eventadmin"), bearer("etudiant2")
    created = manager.post("/api/v1/tickettype/", json={
        "event": event_id, "name": "Tarif réduit", "kind": "restricted", "price": "4,50", "capacity": 20,
        "promotions": [2027], "sponsorship_allowed": True})
    assert created.status_code == 201, created.json
    type_id = created.json["id"]
    with app.app_context():
        made = db.session.get(TicketType, type_id)
        assert (made.name, str(made.price), made.capacity, made.promotions, made.sponsorship_allowed) == \
            ("Tarif réduit", "4.50", 20, [2027], True)
    changed = manager.put(f"/api/v1/tickettype/{type_id}", json={"capacity": 30, "name": "Tarif étudiant"})
    assert changed.status_code == 200, changed.json
    for body, field in (({"kind": "open"}, "kind"), ({"capacity": -1}, "capacity"), ({"capacity": "x"}, "capacity"),
                        ({"price": "abc"}, "price"), ({"name": ""}, "name"), ({"promotions": ["2027"]}, "promotions"),
                        ({"schools": [999999]}, "schools")):
        assert _field(manager.put(f"/api/v1/tickettype/{type_id}", json=body)) == field, body
    assert _field(manager.post("/api/v1/tickettype/", json={"event": event_id, "name": "X", "kind": "vip"})) == "kind"
    with app.app_context():
        kept = db.session.get(TicketType, type_id)
        assert (kept.name, kept.capacity, kept.promotions) == ("Tarif étudiant", 30, [2027])
        rules.book(user("etudiant2"), db.session.get(Event, event_id), booked_type_id)
        db.session.commit()
    # A ticket type with a place is frozen; a student may not configure; another organiser may not either.
    assert _field(manager.put(f"/api/v1/tickettype/{booked_type_id}", json={"capacity": 99})) == "ticket_type"
    assert _field(manager.delete(f"/api/v1/tickettype/{booked_type_id}")) == "ticket_type"
    assert student.post("/api/v1/tickettype/", json={"event": event_id, "name": "Y", "kind": "open"}).status_code \
        in (401, 403)
    assert bearer("clubadmin").delete(f"/api/v1/tickettype/{type_id}").status_code == 422  # seen, not managed
    assert manager.put("/api/v1/tickettype/999999999", json={"capacity": 1}).status_code == 404
    assert manager.delete(f"/api/v1/tickettype/{type_id}").status_code == 200
    with app.app_context():
        assert db.session.get(TicketType, type_id) is None
        assert db.session.get(TicketType, booked_type_id).capacity != 99
