"""Desk D, event ticketing: the rules (each refusal names its field and changes
nothing), the scopes, and the shotgun: capacity and one place per person hold under
50 parallel bookings through the real booking rule (threads, each with its own
database session), on SQLite by default and on PostgreSQL with DATABASE_URL."""
import re
import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func
from flask_appbuilder.security.sqla.models import User

from app.access.events import holds, level_of
from app.extensions import db
from app.models import (
    AdminLevel,
    Association,
    DelegationLog,
    Event,
    EventVisibility,
    Reservation,
    ReservationState,
    TicketType,
    utcnow,
)
from app.platform.refusals import Refused
from app.rules import events as rules
from app.security import Viewer, apply_scope

from .helpers import user

GALA = "Gala de Centrale Lyon 2026"
BDE = "Bureau des élèves de Centrale Lyon"


def _association(name=BDE):
    return db.session.query(Association).join(Association.organisation).filter_by(name=name).one()


def _event(creator="eventadmin", capacity=10, price="0", kind="open", limit=0, **ticket):
    """A new event of the BDE on sale now, with one ticket type; committed."""
    now = utcnow()
    event = rules.create_event(user(creator), _association(), name=f"Soirée {uuid.uuid4().hex[:8]}",
                               starts_on=now + timedelta(days=9), ends_on=now + timedelta(days=9, hours=4),
                               sale_opens_on=now - timedelta(hours=1), sale_closes_on=now + timedelta(days=8),
                               visibility=EventVisibility.public, sponsorship_limit=limit)
    ticket_type = rules.save_ticket_type(user(creator), event, name="Place", kind=kind, price=price,
                                         capacity=capacity, **ticket)
    db.session.commit()
    return event.id, ticket_type.id


def _people(count):
    """`count` plain accounts (no password hashing: they never sign in)."""
    tag = uuid.uuid4().hex[:6]
    people = [User(first_name="Élève", last_name=f"{tag}{n}", username=f"buyer-{tag}-{n}",
                   email=f"buyer-{tag}-{n}@guichet.example", active=True, password="x") for n in range(count)]
    db.session.add_all(people)
    db.session.commit()
    return [person.id for person in people]


def _snapshot(event_id):
    db.session.expire_all()
    return (db.session.query(Reservation).filter_by(event_id=event_id).count(),
            [(t.id, t.taken) for t in db.session.query(TicketType).filter_by(event_id=event_id)])


def test_a_promotion_outside_the_restriction_is_told_why_and_nothing_changes(session):
    gala = session.query(Event).filter_by(name=GALA).one()
    students = gala.ticket_types[0]
    before = _snapshot(gala.id)
    assert "2026–2027" in rules.why_not(user("etudiant2"), students)
    with pytest.raises(Refused) as refusal:
        rules.book(user("etudiant2"), gala, students.id)
    session.rollback()
    assert refusal.value.field == "ticket_type" and "2026–2027" in refusal.value.message
    assert _snapshot(gala.id) == before


def test_the_demo_gala_booking_has_its_options_guest_and_price(session):
    gala = session.query(Event).filter_by(name=GALA).one()
    place = rules.place_of(user("etudiant"), gala)
    assert place.state is ReservationState.prereserved
    assert {o.name for o in place.options} == {"Navette retour", "Menu végétarien"}
    assert str(place.price) == "60.00"  # 45 + 5 + 10
    guests = rules.guests_of(user("etudiant"), gala)
    assert [g.guest_name for g in guests] == ["Jeanne Bernard"]
    assert rules.payment_blockers(place) == gala.ticket_types[0].extra_infos  # the deposit cheque


def test_two_options_of_one_group_are_refused(session):
    gala = session.query(Event).filter_by(name=GALA).one()
    students = gala.ticket_types[0]
    group = [o.id for o in students.options if o.group_id is not None]
    with pytest.raises(Refused) as refusal:
        rules.chosen_options(students, group)
    assert refusal.value.field == "options"


def test_configuration_is_frozen_once_a_ticket_type_has_a_place(session):
    gala = session.query(Event).filter_by(name=GALA).one()
    students = gala.ticket_types[0]
    options = len(students.options)
    with pytest.raises(Refused) as refusal:
        rules.save_option(user("eventadmin"), students, name="Vestiaire", price_change="2")
    session.rollback()
    assert refusal.value.field == "ticket_type"
    session.expire_all()
    assert len(session.get(TicketType, students.id).options) == options


def test_kind_is_fixed_at_creation(session):
    event_id, ticket_type_id = _event()
    ticket_type = session.get(TicketType, ticket_type_id)
    with pytest.raises(Refused) as refusal:
        rules.save_ticket_type(user("eventadmin"), ticket_type.event, ticket_type, name="Place", kind="restricted",
                               capacity=10)
    assert refusal.value.field == "kind"


def test_a_free_place_is_reserved_at_once_and_a_second_is_refused(session):
    event_id, ticket_type_id = _event()
    event = session.get(Event, event_id)
    [place] = rules.book(user("externe"), event, ticket_type_id)
    session.commit()
    assert place.state is ReservationState.reserved
    before = _snapshot(event_id)
    with pytest.raises(Refused) as refusal:
        rules.book(user("externe"), session.get(Event, event_id), ticket_type_id)
    session.rollback()
    assert refusal.value.field == "ticket_type"
    assert _snapshot(event_id) == before


def test_guests_within_the_limit_and_only_on_types_that_allow_them(session):
    event_id, open_id = _event(limit=1, price="8")
    event = session.get(Event, event_id)
    restricted = rules.save_ticket_type(user("eventadmin"), event, name="Adhérents", kind="restricted", price="4",
                                        capacity=5, association_ids=[_association().id])
    session.commit()
    before = _snapshot(event_id)
    too_many = [{"name": "Ami Un"}, {"name": "Ami Deux"}]
    with pytest.raises(Refused) as refusal:
        rules.book(user("etudiant"), session.get(Event, event_id), open_id, guests=too_many)
    session.rollback()
    assert refusal.value.field == "guests"
    with pytest.raises(Refused) as refusal:
        rules.book(user("etudiant"), session.get(Event, event_id), restricted.id,
                   guests=[{"name": "Ami Un", "ticket_type": restricted.id}])
    session.rollback()
    assert refusal.value.field == "guests[0].ticket_type"
    assert _snapshot(event_id) == before
    places = rules.book(user("etudiant"), session.get(Event, event_id), restricted.id,
                        guests=[{"name": "Ami Un", "email": "ami@example.org", "ticket_type": open_id}])
    session.commit()
    assert [(p.holder_id is None, str(p.price)) for p in places] == [(False, "4.00"), (True, "8.00")]


def test_opposition_needs_a_reason_keeps_the_place_and_frees_it(session):
    event_id, ticket_type_id = _event(capacity=1, price="10")
    [place] = rules.book(user("etudiant"), session.get(Event, event_id), ticket_type_id)
    session.commit()
    with pytest.raises(Refused) as refusal:
        rules.RESERVATION_WORKFLOW.fire(place, "oppose", user("eventadmin"), "")
    session.rollback()
    assert refusal.value.field == "comment"
    with pytest.raises(Refused):  # check-in level is below validate
        rules.RESERVATION_WORKFLOW.fire(place, "oppose", user("checker"), "Chèque sans provision")
    session.rollback()
    rules.RESERVATION_WORKFLOW.fire(place, "oppose", user("eventadmin"), "Chèque sans provision")
    session.commit()
    session.expire_all()
    assert session.get(Reservation, place.id).state is ReservationState.opposed
    assert session.get(TicketType, ticket_type_id).taken == 0
    with pytest.raises(Refused):
        rules.delete_prereservation(user("etudiant"), session.get(Reservation, place.id))
    session.rollback()


def test_missing_items_block_payment_and_a_validated_item_never_changes(session):
    event_id, ticket_type_id = _event(price="20")
    ticket_type = session.get(TicketType, ticket_type_id)
    info = rules.save_extra_info(user("eventadmin"), ticket_type, label="Taille de t-shirt", kind="size")
    session.commit()
    [place] = rules.book(user("etudiant"), session.get(Event, event_id), ticket_type_id)
    session.commit()
    with pytest.raises(Refused):
        rules.RESERVATION_WORKFLOW.fire(place, "mark_paid", user("eventadmin"))
    session.rollback()
    with pytest.raises(Refused) as refusal:
        rules.answer(user("etudiant"), place, info, "XXXL")
    session.rollback()
    assert refusal.value.field == "value"
    item = rules.answer(user("etudiant"), place, info, "m")
    rules.validate_answer(user("eventadmin"), item)
    session.commit()
    with pytest.raises(Refused):
        rules.answer(user("etudiant"), place, info, "L")
    session.rollback()
    rules.RESERVATION_WORKFLOW.fire(session.get(Reservation, place.id), "mark_paid", user("eventadmin"))
    session.commit()
    assert rules.may_enter(session.get(Reservation, place.id))


def test_admin_levels_the_highest_applies_none_above_ones_own_every_grant_logged(session):
    event_id, _ = _event()
    event = session.get(Event, event_id)
    assert level_of(user("eventadmin"), event) is AdminLevel.manage  # its creator
    logged = session.query(DelegationLog).count()
    rules.grant_level(user("eventadmin"), event, "view", user=user("checker"))
    rules.grant_level(user("eventadmin"), event, "checkin", board=_association())  # checker is not on the board
    rules.grant_level(user("eventadmin"), event, "validate", user=user("checker"))
    session.commit()
    assert level_of(user("checker"), event) is AdminLevel.validate
    assert session.query(DelegationLog).count() == logged + 3
    with pytest.raises(Refused):
        rules.grant_level(user("checker"), event, "view", user=user("etudiant"))
    session.rollback()
    assert not holds(user("etudiant"), event, AdminLevel.view)


def test_only_board_members_create_events(session):
    now = utcnow()
    count = session.query(Event).count()
    with pytest.raises(Refused) as refusal:
        rules.create_event(user("etudiant"), _association(), name="Soirée pirate", starts_on=now, ends_on=now,
                           sale_opens_on=now, sale_closes_on=now + timedelta(days=1))
    session.rollback()
    assert refusal.value.field == "association"
    assert session.query(Event).count() == count


def test_cancelling_deletes_pre_reservations_marks_paid_places_to_refund_and_mails(session):
    from app.models import OutboxMail

    event_id, ticket_type_id = _event(price="0")
    event = session.get(Event, event_id)
    paid_type = rules.save_ticket_type(user("eventadmin"), event, name="Payante", kind="open", price="9",
                                       capacity=5)
    session.commit()
    [free] = rules.book(user("externe"), session.get(Event, event_id), ticket_type_id)
    [pre] = rules.book(user("etudiant"), session.get(Event, event_id), paid_type.id)
    session.commit()
    pre_id, free_id = pre.id, free.id
    mails = session.query(OutboxMail).filter(OutboxMail.template == "events/cancelled").count()
    assert rules.cancel_event(user("eventadmin"), session.get(Event, event_id)) == {"deleted": 1, "to_refund": 1}
    session.commit()
    session.expire_all()
    assert session.get(Reservation, pre_id) is None
    assert session.get(Reservation, free_id).to_refund
    assert session.query(OutboxMail).filter(OutboxMail.template == "events/cancelled").count() == mails + 2


def test_scopes_private_events_and_others_places_stay_hidden(session):
    probe = Viewer(user("externe").id, frozenset({"User"}), frozenset())
    names = {e.name for e in apply_scope(session.query(Event), Event, probe)}
    assert GALA in names and "Réunion du bureau du BDE" not in names
    assert "Sortie escalade au Club Vertical" not in names  # the club's members only
    holders = {r.holder_id for r in apply_scope(session.query(Reservation), Reservation, probe)}
    assert holders == {user("externe").id}


def _rush(app, event_id, ticket_type_id, people):
    """Each person books at the same moment, in a thread of their own: (booked, refusals)."""
    barrier, booked, refused, errors = threading.Barrier(len(people)), [], [], []

    def attempt(person_id):
        barrier.wait(60)  # before any connection is taken: the pool lends them to whoever books
        with app.app_context():
            try:
                person, event = db.session.get(User, person_id), db.session.get(Event, event_id)
                rules.book(person, event, ticket_type_id)
                db.session.commit()
                booked.append(person_id)
            except Refused as refusal:
                db.session.rollback()
                refused.append(refusal)
            except Exception as error:  # a 500 in the web: the test says which
                db.session.rollback()
                errors.append(repr(error))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(person_id,)) for person_id in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors[:3]
    return booked, refused


def test_fifty_buyers_at_once_never_oversell(app):
    with app.app_context():
        event_id, ticket_type_id = _event(capacity=10)
        people = _people(50)
    booked, refused = _rush(app, event_id, ticket_type_id, people)
    with app.app_context():
        places = db.session.query(Reservation).filter_by(ticket_type_id=ticket_type_id).count()
        taken = db.session.get(TicketType, ticket_type_id).taken
    assert len(booked) == places == taken == 10
    assert len(refused) == 40 and all(r.field == "ticket_type" for r in refused)


def test_fifty_attempts_of_one_person_leave_one_place(app):
    with app.app_context():
        event_id, ticket_type_id = _event(capacity=100)
        [person] = _people(1)
    booked, refused = _rush(app, event_id, ticket_type_id, [person] * 50)
    with app.app_context():
        places = db.session.query(Reservation).filter_by(event_id=event_id, holder_id=person).count()
        taken = db.session.get(TicketType, ticket_type_id).taken
    assert len(booked) == places == taken == 1
    assert len(refused) == 49 and all(r.field == "ticket_type" for r in refused)


def test_the_event_page_says_why_not_and_the_booking_form_books(app, login_as):
    with app.app_context():
        gala = db.session.query(Event).filter_by(name=GALA).one()
        students = gala.ticket_types[0]
        shuttle = next(o.id for o in students.options if o.group_id is None)
        terroir = next(o.id for o in students.options if o.name == "Menu terroir")
        gala_id, students_id = gala.id, students.id
        meeting_id = db.session.query(Event.id).filter_by(name="Réunion du bureau du BDE").scalar()
    page = login_as("etudiant2").get(f"/events/show/{gala_id}").get_data(as_text=True)
    assert "2026–2027" in page and 'id="booking-form"' in page  # the open ticket is still offered
    assert login_as("etudiant2").get(f"/events/show/{meeting_id}").status_code == 404
    client = login_as("insa")
    response = client.post(f"/events/book/{gala_id}", data={
        "ticket_type": students_id, "options": [shuttle, terroir], "guests-0-name": "Tom Petit",
        "guests-0-email": "tom.petit@example.org", "guests-0-ticket_type": students_id})
    assert response.status_code == 302 and response.headers["Location"].endswith("/events/places")
    page = client.get("/events/places").get_data(as_text=True)
    assert "Tom Petit" in page and re.search(r"62,00\s€", page)  # 45 + 5 + 12, and the guest's 45
    assert "Chèque de caution (scan)" in page  # the item still to give
    response = client.post(f"/events/book/{gala_id}", data={"ticket_type": students_id})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/events/show/{gala_id}")
    with app.app_context():
        assert db.session.query(Reservation).filter_by(event_id=gala_id, holder_id=user("insa").id).count() == 1
    page = client.get(f"/events/show/{gala_id}").get_data(as_text=True)
    rows = dict(re.findall(r'<tr data-ticket-type="(\d+)">(.*?)</tr>', page, re.S))
    assert "Votre place" in rows[str(students_id)] and "Disponible" not in page
    assert all("Vous avez déjà une place" in row for key, row in rows.items() if key != str(students_id))


def test_a_board_member_creates_an_event_and_holds_manage_others_are_told_why(app, login_as):
    with app.app_context():
        association_id = _association().id
    form = {"association": association_id, "name": "Afterwork du BDE", "place": "Foyer",
            "starts_on": "2027-03-04 19:00:00", "ends_on": "2027-03-04 23:00:00", "visibility": "public",
            "sale_opens_on": "2027-02-01 12:00:00", "sale_closes_on": "2027-03-04 12:00:00", "sponsorship_limit": "1"}
    page = login_as("checker").post("/events/add", data=form).get_data(as_text=True)
    assert "board" in page or "bureau" in page  # the refusal, on the organiser's field
    with app.app_context():
        assert db.session.query(Event).filter_by(name="Afterwork du BDE").count() == 0
    response = login_as("eventadmin").post("/events/add", data=form)
    assert response.status_code == 302
    with app.app_context():
        event = db.session.query(Event).filter_by(name="Afterwork du BDE").one()
        assert level_of(user("eventadmin"), event) is AdminLevel.manage
        assert level_of(user("checker"), event) is None
        # Typed in Paris time (winter: UTC+1), kept in UTC, shown back as typed.
        assert (event.starts_on.hour, event.sale_opens_on.hour) == (18, 11)
        event_id = event.id
    edit = login_as("eventadmin").get(f"/events/edit/{event_id}").get_data(as_text=True)
    assert 'value="2027-03-04 19:00:00"' in edit and 'value="2027-02-01 12:00:00"' in edit
    assert login_as("eventadmin").post(f"/events/edit/{event_id}", data={
        key: value for key, value in form.items() if key != "association"}).status_code == 302
    with app.app_context():
        assert db.session.get(Event, event_id).starts_on.hour == 18  # saved again unchanged: no shift


# ---------------------------------------------------------------------------
# The shotgun through a real HTTP server: signed-in people post the booking form at once
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fifty_buyers(app, live_url):
    """Fifty people signed in on the live server (User role, no school: open tickets
    only); made inactive afterwards, so that no other test counts them."""
    from app.security import USER

    from .test_races import Visitor

    tag = uuid.uuid4().hex[:6]
    with app.app_context():
        sm = app.appbuilder.sm
        names = [f"rush-{tag}-{n}" for n in range(50)]
        for name in names:
            assert sm.add_user(name, "Élève", name, f"{name}@guichet.example", [sm.find_role(USER)],
                               password="Rush-2026-places")
    yield [Visitor(live_url, name, password="Rush-2026-places") for name in names]
    with app.app_context():
        for name in names:
            user(name).active = False
        db.session.commit()


def _book_at_once(visitors, event_id, ticket_type_id):
    """Every visitor posts the booking form at the same moment: [(status, page shown after)]."""
    from .test_races import burst

    return burst([lambda visitor=visitor: visitor.post_and_follow(
        f"/events/book/{event_id}", {"ticket_type": str(ticket_type_id)}) for visitor in visitors])


def test_fifty_people_posting_at_once_through_the_server_take_the_ten_places_and_no_more(app, fifty_buyers):
    with app.app_context():
        event_id, ticket_type_id = _event(capacity=10)
    results = _book_at_once(fifty_buyers, event_id, ticket_type_id)
    assert all(status == 302 for status, _ in results), sorted({status for status, _ in results})
    with app.app_context():
        places = db.session.query(Reservation).filter_by(ticket_type_id=ticket_type_id).count()
        taken = db.session.get(TicketType, ticket_type_id).taken
        holders = db.session.query(func.count(func.distinct(Reservation.holder_id))).filter_by(
            ticket_type_id=ticket_type_id).scalar()
    assert places == taken == holders == 10
    booked = [page for _, page in results if "Your place is taken" in page or "Votre place est prise" in page]
    assert len(booked) == 10
    told = [page for _, page in results if page not in booked]
    assert len(told) == 40 and all(re.search(r"(Billet|Ticket) ?: Place (est complet|is full)", page) for page in told)


def test_one_person_posting_fifty_times_at_once_through_the_server_gets_one_place(app, fifty_buyers):
    with app.app_context():
        event_id, ticket_type_id = _event(capacity=100)
    [visitor] = fifty_buyers[:1]
    results = _book_at_once([visitor] * 50, event_id, ticket_type_id)
    assert all(status == 302 for status, _ in results), sorted({status for status, _ in results})
    with app.app_context():
        places = db.session.query(Reservation).filter_by(event_id=event_id).count()
        taken = db.session.get(TicketType, ticket_type_id).taken
    assert places == taken == 1


def test_my_places_take_the_extra_items_and_only_a_validator_validates_them(app, login_as):
    from .helpers import upload

    with app.app_context():
        event_id, ticket_type_id = _event(price="20")
        event, ticket_type = db.session.get(Event, event_id), db.session.get(TicketType, ticket_type_id)
        diet = rules.save_extra_info(user("eventadmin"), ticket_type, label="Régime alimentaire", kind="text")
        scan = rules.save_extra_info(user("eventadmin"), ticket_type, label="Certificat médical", kind="file")
        rules.grant_level(user("eventadmin"), event, AdminLevel.checkin, user=user("checker"))
        [place] = rules.book(user("etudiant2"), event, ticket_type_id)
        db.session.commit()
        place_id, diet_id, scan_id = place.id, diet.id, scan.id
    student = login_as("etudiant2")
    row = re.compile(rf'<tr data-place="{place_id}">.*?</tr>', re.S)
    page = row.search(student.get("/events/places").get_data(as_text=True)).group(0)
    assert page.count("À fournir") == 2 and 'type="file"' in page
    student.post(f"/events/answer/{place_id}/{diet_id}", data={"value": "  "})
    page = student.get("/events/places").get_data(as_text=True)
    assert "Régime alimentaire : une valeur est obligatoire." in page
    assert row.search(page).group(0).count("À fournir") == 2  # the refusal changed nothing
    student.post(f"/events/answer/{place_id}/{diet_id}", data={"value": "Végétarien"})
    student.post(f"/events/answer/{place_id}/{scan_id}", data={"value": upload("certificat.png")},
                 content_type="multipart/form-data")
    page = row.search(student.get("/events/places").get_data(as_text=True)).group(0)
    assert page.count("Fournie, en attente de validation") == 2 and "certificat.png" in page
    assert "Végétarien" in page
    assert login_as("etudiant").post(f"/events/answer/{place_id}/{diet_id}", data={"value": "x"}).status_code == 404

    with app.app_context():
        answers = {a.extra_info_id: a.id for a in db.session.get(Reservation, place_id).answers}
    checker = login_as("checker")  # check-in level: sees the items, may not validate them
    page = checker.get(f"/reservations/show/{place_id}").get_data(as_text=True)
    assert "Certificat médical" in page and "/reservations/validate_item" not in page
    checker.post(f"/reservations/validate_item/{answers[scan_id]}")
    checker.post("/reservations/action_post", data={"action": "validate_items", "rowid": [str(place_id)]})
    admin = login_as("eventadmin")
    page = admin.get(f"/reservations/show/{place_id}").get_data(as_text=True)
    assert page.count("/reservations/validate_item/") == 2  # nothing was validated by the checker
    admin.post(f"/reservations/validate_item/{answers[scan_id]}")
    page = admin.get(f"/reservations/show/{place_id}").get_data(as_text=True)
    assert page.count("/reservations/validate_item/") == 1
    admin.post("/reservations/action_post", data={"action": "validate_items", "rowid": [str(place_id)]})
    assert "/reservations/validate_item/" not in admin.get(f"/reservations/show/{place_id}").get_data(as_text=True)
    with app.app_context():
        assert rules.payment_blockers(db.session.get(Reservation, place_id)) == []

    page = row.search(student.get("/events/places").get_data(as_text=True)).group(0)
    assert page.count("Validée") == 2 and "/events/answer/" not in page  # validated: no form any more
    student.post(f"/events/answer/{place_id}/{scan_id}", data={"value": upload("autre.png")},
                 content_type="multipart/form-data")
    page = row.search(student.get("/events/places").get_data(as_text=True)).group(0)
    assert "certificat.png" in page and "autre.png" not in page
