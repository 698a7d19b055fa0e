"""Desk A, visio booking: every rule of DESIGN §3, the mails and their recipients,
the workflow, the screens, and the row scope between two member organisations."""
import csv
import io
import os
import threading
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Booking,
    BookingState,
    BookingOccurrence,
    Equipment,
    OutboxMail,
    Room,
    WorkflowEvent,
)
from app.platform.notifications import set_user_locale
from app.platform.workflow import TransitionRefused
from app.rules import booking as rules
from app.rules.booking import BookingDraft, BookingRefused, ParticipantLine

from .helpers import local_now, user

# Every test here runs with the clock stopped at 10:00 today (conftest's `clock`):
# none depends on the time of day it is run at.
pytestmark = pytest.mark.usefixtures("clock")

RECTORAT = "Rectorat de l'académie de Lyon"
UGA = "Université Grenoble Alpes"


def rooms_of(organisation_name, *names):
    query = select(Room).join(Room.organisation).where(Room.organisation.has(name=organisation_name))
    rooms = db.session.scalars(query.order_by(Room.id)).all()
    return [r for r in rooms if r.name in names] if names else rooms


def day_in(weeks, weekday=1):
    """A working day `weeks` weeks from now (far past the demo data, which stops at +4 weeks)."""
    start = local_now().date() + timedelta(weeks=weeks)
    return start - timedelta(days=start.weekday()) + timedelta(days=weekday)


def draft(rooms, day, start="10:00", end="11:00", **changes):
    values = dict(
        room_ids=[r.id for r in rooms], session_name="Réunion de rentrée", organiser_name="Hélène Brun",
        organiser_email="helene.brun@ac-lyon.example", organiser_phone="04 72 80 60 00", day=day,
        start_time=time.fromisoformat(start) if start else None, end_time=time.fromisoformat(end) if end else None,
    )
    values.update(changes)
    return BookingDraft(**values)


def fields_of(refusal):
    return {p.field for p in refusal.value.problems}


def booking_count():
    return db.session.scalar(select(func.count()).select_from(Booking))


@pytest.fixture()
def ctx(app):
    """An app context whose writes are rolled back at the end of the test."""
    with app.app_context():
        yield
        db.session.rollback()


# ---------------------------------------------------------------------------
# Rules (no HTTP)
# ---------------------------------------------------------------------------


def test_every_empty_required_field_is_named_and_nothing_is_written(app, ctx):
    before = booking_count()
    with pytest.raises(BookingRefused) as refusal:
        rules.create_booking(BookingDraft(), user("creator"), [])
    assert {"rooms", "session_name", "organiser_name", "organiser_email", "organiser_phone", "day",
            "start", "end"} <= fields_of(refusal)
    assert "Salles" in str(refusal.value) or "Rooms" in str(refusal.value)
    assert booking_count() == before


def test_end_before_start_and_quarter_hours_are_refused(app, ctx):
    rooms = rooms_of(RECTORAT)[:1]
    creator = user("creator")
    with pytest.raises(BookingRefused) as refusal:
        rules.create_booking(draft(rooms, day_in(10), "11:00", "10:00"), creator, rooms)
    assert fields_of(refusal) == {"end"}
    with pytest.raises(BookingRefused) as refusal:
        rules.create_booking(draft(rooms, day_in(10), "10:10", "11:00"), creator, rooms)
    assert fields_of(refusal) == {"start"}


@pytest.mark.parametrize("clock", ["10:00", "19:30", "21:30"], indirect=True)
def test_one_day_notice_unless_the_vnoc_books(app, ctx, clock):
    """A slot less than a day ahead, inside the service hours of one day (never across
    midnight, whatever the time of day): refused for the notice, on its start.
    (Taken 3 to 4 hours ahead at 19:30, a slot would end at midnight: refused on its end.)"""
    assert rules.local_now() == clock  # the rules read the stopped clock
    rooms = rooms_of(RECTORAT)[:1]
    soon_start = (clock + timedelta(hours=4)).replace(minute=0, second=0, microsecond=0)
    if soon_start.time() < time(9):  # before the service opens: that morning at 10:00
        soon_start = soon_start.replace(hour=10)
    elif soon_start.time() > time(17):  # too late for a slot: the next morning at 10:00
        soon_start = datetime.combine(soon_start.date() + timedelta(days=1), time(10))
    assert timedelta(hours=1) < soon_start - clock < timedelta(hours=24)
    attempt = draft(rooms, soon_start.date(), soon_start.strftime("%H:%M"),
                    (soon_start + timedelta(hours=1)).strftime("%H:%M"))
    found = rules.problems(attempt, user("creator"), rooms, check_rooms=False)  # the demo may hold the slot
    assert "start" in {p.field for p in found}
    assert any("24" in p.message for p in found)
    assert [p.field for p in found if "24" in p.message] == ["start"]
    assert {p.field for p in found} <= {"start", "day"}  # "day": tomorrow may be a Saturday
    vnoc_found = rules.problems(attempt, user("vnoc"), rooms, check_rooms=False)
    assert not [p for p in vnoc_found if "24" in p.message]


def test_service_hours_and_working_days_unless_the_vnoc_books(app, ctx):
    rooms = rooms_of(RECTORAT)[:1]
    creator, vnoc = user("creator"), user("vnoc")
    for start, end, field in [("07:00", "09:00", "start"), ("17:30", "18:30", "end")]:
        with pytest.raises(BookingRefused) as refusal:
            rules.create_booking(draft(rooms, day_in(11), start, end), creator, rooms)
        assert fields_of(refusal) == {field}, (start, end)
    with pytest.raises(BookingRefused) as refusal:
        rules.create_booking(draft(rooms, day_in(11, weekday=5)), creator, rooms)
    assert fields_of(refusal) == {"day"}
    assert rules.problems(draft(rooms, day_in(11), "07:00", "09:00"), vnoc, rooms) == []
    assert rules.problems(draft(rooms, day_in(11, weekday=5)), vnoc, rooms) == []
    # Inside the hours, exactly at both edges: accepted.
    assert rules.problems(draft(rooms, day_in(11), "08:30", "18:00"), creator, rooms) == []


def test_a_room_is_never_double_booked_counting_the_buffer(app, ctx):
    first, second = rooms_of(RECTORAT)[:2]
    creator = user("creator")
    day = day_in(12)
    rules.create_booking(draft([first], day, "10:00", "11:00"), creator, [first])
    for start, end in [("10:00", "11:00"), ("10:30", "11:30"), ("11:15", "12:00"), ("09:00", "09:45")]:
        with pytest.raises(BookingRefused) as refusal:
            rules.create_booking(draft([first], day, start, end), creator, [first])
        assert fields_of(refusal) == {"rooms"}, (start, end)
        assert first.name in str(refusal.value)
    # A 30-minute gap (15 minutes each side) is enough; another room is free.
    rules.create_booking(draft([first], day, "11:30", "12:30"), creator, [first])
    rules.create_booking(draft([first], day, "08:30", "09:30"), creator, [first])
    rules.create_booking(draft([second], day, "10:00", "11:00"), creator, [second])


def test_the_buffer_is_configuration(app, ctx):
    room = rooms_of(RECTORAT)[0]
    creator = user("creator")
    day = day_in(13)
    app.config["BOOKING_BUFFER_MINUTES"] = 0
    try:
        rules.create_booking(draft([room], day, "10:00", "11:00"), creator, [room])
        assert rules.problems(draft([room], day, "11:00", "12:00"), creator, [room]) == []
    finally:
        app.config["BOOKING_BUFFER_MINUTES"] = 15
    assert {p.field for p in rules.problems(draft([room], day, "11:00", "12:00"), creator, [room])} == {"rooms"}


def test_the_same_equipment_twice_is_refused(app, ctx):
    rooms = rooms_of(RECTORAT)[:1]
    saved = db.session.scalars(select(Equipment).where(Equipment.organisation_id == rooms[0].organisation_id)).first()
    line = ParticipantLine(name=saved.name, kind=saved.kind.value, equipment_id=saved.id)
    for lines in ([line, line], [ParticipantLine(name="Salle 12"), ParticipantLine(name="salle 12 ")]):
        with pytest.raises(BookingRefused) as refusal:
            rules.create_booking(draft(rooms, day_in(14), participants=lines), user("creator"), rooms)
        assert fields_of(refusal) == {"participants"}
        assert "deux fois" in str(refusal.value) or "twice" in str(refusal.value)


def test_vnoc_connects_only_ip_equipment_with_an_address(app, ctx):
    rooms = rooms_of(RECTORAT)[:1]
    creator = user("creator")
    for kind, address in [("isdn", "10.0.0.1"), ("mobile", ""), ("ip", "")]:
        line = ParticipantLine(name="Invité", kind=kind, ip_address=address, vnoc_connects=True)
        with pytest.raises(BookingRefused) as refusal:
            rules.create_booking(draft(rooms, day_in(15), participants=[line]), creator, rooms)
        assert fields_of(refusal) == {"participants"}, kind
    line = ParticipantLine(name="Invité", kind="ip", ip_address="10.0.0.1", vnoc_connects=True)
    booking = rules.create_booking(draft(rooms, day_in(15), participants=[line]), creator, rooms)
    assert booking.participants[0].vnoc_connects


def test_recurrence_expands_into_occurrences(app, ctx):
    first, second = rooms_of(RECTORAT)[:2]
    creator = user("creator")
    monday = day_in(20, weekday=0)
    weekly = rules.create_booking(draft([first, second], monday, recurrence="weekly", recurrence_count=4),
                                  creator, [first, second])
    assert len(weekly.occurrences) == 8
    assert sorted({o.start_at.date() for o in weekly.occurrences}) == [monday + timedelta(weeks=n) for n in range(4)]
    daily = rules.occurrence_times(datetime.combine(monday, time(14)), datetime.combine(monday, time(15)),
                                   "daily", until=monday + timedelta(days=13))
    assert len(daily) == 10 and all(s.weekday() < 5 for s, _ in daily)
    monthly = rules.occurrence_times(datetime(2031, 1, 31, 10), datetime(2031, 1, 31, 11), "monthly", count=3)
    assert [s.date() for s, _ in monthly] == [date(2031, 1, 31), date(2031, 3, 31), date(2031, 5, 31)]
    yearly = rules.occurrence_times(datetime(2031, 3, 4, 10), datetime(2031, 3, 4, 11), "yearly", count=2)
    assert [s.year for s, _ in yearly] == [2031, 2032]
    # The third week collides with the weekly booking: the whole series is refused.
    with pytest.raises(BookingRefused) as refusal:
        rules.create_booking(draft([first], monday - timedelta(weeks=2), recurrence="weekly",
                                   recurrence_until=monday + timedelta(days=1)), creator, [first])
    assert fields_of(refusal) == {"rooms"}
    with pytest.raises(BookingRefused) as refusal:
        rules.create_booking(draft([first], monday, recurrence="weekly"), creator, [first])
    assert fields_of(refusal) == {"recurrence"}


def test_save_to_my_equipment(app, ctx):
    rooms = rooms_of(RECTORAT)[:1]
    creator = user("creator")
    saved = db.session.scalars(select(Equipment).where(Equipment.organisation_id == rooms[0].organisation_id,
                                                       Equipment.kind == "ip")).first()
    changed = ParticipantLine(name=saved.name, kind="ip", ip_address="10.1.2.3", phone="01 02 03 04 05",
                              equipment_id=saved.id, save=True)
    new = ParticipantLine(name="Salle des actes", kind="isdn", email="actes@ac-lyon.example", save=True)
    unsaved = ParticipantLine(name="Invité d'un jour", kind="mobile")
    rules.create_booking(draft(rooms, day_in(16), participants=[changed, new, unsaved]), creator, rooms,
                         {saved.id: saved})
    assert saved.ip_address == "10.1.2.3" and saved.phone == "01 02 03 04 05"
    names = set(db.session.scalars(select(Equipment.name).where(Equipment.organisation_id == rooms[0].organisation_id)))
    assert "Salle des actes" in names and "Invité d'un jour" not in names


def _mails(booking, template):
    return db.session.scalars(select(OutboxMail).where(
        OutboxMail.template == template, OutboxMail.subject.contains(booking.reference))).all()


def test_create_gives_a_reference_and_mails_everyone_with_the_ics(app, ctx):
    rooms = rooms_of(RECTORAT)[:1]
    creator = user("creator")
    lines = [ParticipantLine(name="Invité A", kind="ip", email="a@partenaire.example"),
             ParticipantLine(name="Invité B", kind="mobile", email="b@partenaire.example")]
    booking = rules.create_booking(draft(rooms, day_in(17), participants=lines), creator, rooms)
    assert booking.reference == f"{booking.id:05d}" and len(booking.reference) >= 5
    assert booking.state == BookingState.pending
    mails = _mails(booking, "booking/created")
    assert {m.recipient for m in mails} == {creator.email, "helene.brun@ac-lyon.example", "a@partenaire.example",
                                            "b@partenaire.example", app.config["VNOC_MAILBOX"]}
    for mail in mails:
        assert [a.filename for a in mail.attachments] == [f"reservation-{booking.reference}.ics"]
        assert b"BEGIN:VEVENT" in mail.attachments[0].data
        assert "Réunion de rentrée" in mail.body


def test_mails_are_in_each_recipients_language(app, ctx):
    rooms = rooms_of(RECTORAT)[:1]
    creator = user("creator")
    set_user_locale(creator.id, "en")
    booking = rules.create_booking(draft(rooms, day_in(18)), creator, rooms)
    by_recipient = {m.recipient: m for m in _mails(booking, "booking/created")}
    assert "requested" in by_recipient[creator.email].subject
    assert "demandée" in by_recipient[app.config["VNOC_MAILBOX"]].subject


def test_validate_refuse_cancel_modify_mail_the_same_people(app, ctx):
    rooms = rooms_of(RECTORAT)[:2]
    creator, vnoc = user("creator"), user("vnoc")
    lines = [ParticipantLine(name="Invité A", kind="ip", email="a@partenaire.example")]
    expected = {creator.email, "helene.brun@ac-lyon.example", "a@partenaire.example", app.config["VNOC_MAILBOX"]}
    workflow = rules.BOOKING_WORKFLOW

    one = rules.create_booking(draft(rooms[:1], day_in(19), participants=lines), creator, rooms[:1])
    with pytest.raises(TransitionRefused):
        workflow.fire(one, "validate", creator)
    with pytest.raises(TransitionRefused) as refusal:
        workflow.fire(one, "refuse", vnoc, "")
    assert "Commentaire" in str(refusal.value) or "Comment" in str(refusal.value)
    assert one.state == BookingState.pending
    workflow.fire(one, "validate", vnoc)
    assert {m.recipient for m in _mails(one, "booking/validated")} == expected

    rules.modify_booking(one, draft(rooms[:1], day_in(19), "14:00", "15:00", participants=lines), creator, rooms[:1])
    assert one.state == BookingState.pending and one.start_at.hour == 14
    assert {m.recipient for m in _mails(one, "booking/modified")} == expected
    workflow.fire(one, "cancel", creator)
    assert {m.recipient for m in _mails(one, "booking/cancelled")} == expected
    assert not any(o.active for o in one.occurrences)
    assert b"STATUS:CANCELLED" in _mails(one, "booking/cancelled")[0].attachments[0].data
    # The cancelled slot is free again.
    assert rules.problems(draft(rooms[:1], day_in(19), "14:00", "15:00"), creator, rooms[:1]) == []

    two = rules.create_booking(draft(rooms[1:], day_in(19), participants=lines), creator, rooms[1:])
    workflow.fire(two, "refuse", vnoc, "Salle en travaux : le VNOC vous appelle.")
    assert {m.recipient for m in _mails(two, "booking/refused")} == expected
    assert "Salle en travaux" in _mails(two, "booking/refused")[0].body
    history = db.session.scalars(select(WorkflowEvent).where(WorkflowEvent.object_type == "booking",
                                                             WorkflowEvent.object_id == two.id)).all()
    assert [(e.transition, e.comment) for e in history] == [("refuse", "Salle en travaux : le VNOC vous appelle.")]


def test_queue_time_left_and_todays_calls(app, ctx):
    rooms = rooms_of(RECTORAT)[:1]
    creator, vnoc = user("creator"), user("vnoc")
    line = ParticipantLine(name="Invité IP", kind="ip", ip_address="10.2.3.4", vnoc_connects=True)
    booking = rules.create_booking(draft(rooms, day_in(21), participants=[line]), creator, rooms)
    assert 59 <= rules.minutes_left(booking) <= 60
    assert rules.minutes_left(booking, booking.requested_on + timedelta(minutes=75)) == -15
    rules.BOOKING_WORKFLOW.fire(booking, "validate", vnoc)
    calls = rules.calls_of_day(day_in(21))
    mine = [c for c in calls if c.booking is booking]
    assert [(c.participant.name, c.call_at.strftime("%H:%M")) for c in mine] == [("Invité IP", "09:45")]


def test_usage_report_counts_sessions_hours_participants(app, ctx):
    rooms = rooms_of(RECTORAT)[:1]
    creator, vnoc = user("creator"), user("vnoc")
    month = day_in(40, weekday=0).replace(day=1) + timedelta(days=31)
    month = month.replace(day=1)
    first_monday = month + timedelta(days=(7 - month.weekday()) % 7)
    lines = [ParticipantLine(name="A", kind="mobile"), ParticipantLine(name="B", kind="mobile")]
    booking = rules.create_booking(draft(rooms, first_monday, "10:00", "11:30", participants=lines,
                                         recurrence="weekly", recurrence_count=2), creator, rooms)
    before = rules.usage(month)
    assert before == []  # pending sessions are not usage
    rules.BOOKING_WORKFLOW.fire(booking, "validate", vnoc)
    [row] = rules.usage(month)
    assert (row.organisation, row.room, row.sessions, row.hours, row.participants) == (RECTORAT, rooms[0].name, 2, 3.0, 4)


def _attempt(app, room_id, day, results):
    with app.test_request_context():
        creator = user("creator")
        room = db.session.get(Room, room_id)
        try:
            rules.create_booking(draft([room], day), creator, [room])
            db.session.commit()
            results.append("won")
        except BookingRefused:
            db.session.rollback()
            results.append("refused")
        except Exception as error:  # e.g. SQLite's "database is locked": recorded, and fails the test
            db.session.rollback()
            results.append(type(error).__name__)
        finally:
            db.session.remove()


def test_concurrent_attempts_on_one_slot_leave_exactly_one_booking(app):
    """30 threads at once, on both databases: on PostgreSQL the exclusion constraint
    decides, on SQLite booking transactions take turns (BEGIN IMMEDIATE) and the
    application's check decides. Every other attempt is a refusal, never an error."""
    with app.app_context():
        room_id = rooms_of(RECTORAT)[2].id
    day = day_in(30)
    results = []
    threads = [threading.Thread(target=_attempt, args=(app, room_id, day, results)) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["refused"] * 29 + ["won"], results
    with app.app_context():
        held = db.session.scalar(select(func.count()).select_from(BookingOccurrence).where(
            BookingOccurrence.room_id == room_id, BookingOccurrence.active.is_(True),
            func.date(BookingOccurrence.start_at) == day))
        assert held == 1


@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgresql"), reason="PostgreSQL only")
def test_the_database_itself_refuses_a_double_booking(app):
    """Written behind the application's back, an overlapping occurrence still fails."""
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        booking = db.session.scalars(select(Booking).where(Booking.state == BookingState.validated)).first()
        held = next(o for o in booking.occurrences if o.active)
        db.session.add(BookingOccurrence(booking_id=booking.id, room_id=held.room_id, start_at=held.start_at,
                                         end_at=held.end_at, blocked_from=held.blocked_from,
                                         blocked_until=held.blocked_until, active=True))
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


# ---------------------------------------------------------------------------
# Screens
# ---------------------------------------------------------------------------


def _wizard(client, steps, booking=None):
    """Post each step's fields in turn, carrying the draft; return the last response."""
    response = client.get("/booking-wizard/" + (f"?booking={booking}" if booking else ""))
    for fields in steps:
        html = response.get_data(as_text=True)
        draft_json = html.split('name="draft" value="')[1].split('"')[0]
        step = html.split('name="step" value="')[1].split('"')[0]
        import html as html_module

        data = {"draft": html_module.unescape(draft_json), "step": step, **fields}
        if booking:
            data["booking"] = booking
        response = client.post("/booking-wizard/", data=data)
    return response


def test_wizard_books_in_four_steps_and_shows_the_reference(app, login_as):
    client = login_as("creator")
    with app.app_context():
        room = rooms_of(RECTORAT)[1]
        room_id = room.id
        saved = db.session.scalars(select(Equipment).where(Equipment.organisation_id == room.organisation_id)).first()
        saved_id, saved_name = saved.id, saved.name
    day = day_in(22)
    steps = [
        {"room": str(room_id), "action": "next"},
        {"p-0-name": saved_name, "p-0-equipment_id": str(saved_id), "p-0-kind": "mobile", "p-0-vnoc_connects": "no",
         "p-1-name": "Invité Nantes", "p-1-kind": "ip", "p-1-ip_address": "10.44.0.9", "p-1-vnoc_connects": "yes",
         "p-1-email": "nantes@partenaire.example", "p-1-save": "1", "action": "next"},
        {"session_name": "Jury de BTS", "organiser_name": "Sophie Lambert", "organiser_email": "s.lambert@ac-lyon.example",
         "organiser_phone": "04 72 80 60 10", "day": day.isoformat(), "start_time": "14:00", "end_time": "15:30",
         "recurrence": "", "action": "next"},
    ]
    review = _wizard(client, steps).get_data(as_text=True)
    assert "Jury de BTS" in review and "Confirmer la réservation" in review
    draft_json = review.split('name="draft" value="')[1].split('"')[0]
    import html as html_module

    done = client.post("/booking-wizard/", data={"draft": html_module.unescape(draft_json), "step": "4",
                                                 "action": "confirm"}).get_data(as_text=True)
    reference = done.split('class="booking-reference">')[1].split("<")[0]
    with app.app_context():
        booking = db.session.scalars(select(Booking).where(Booking.reference == reference)).one()
        assert booking.session_name == "Jury de BTS" and booking.state == BookingState.pending
        assert [p.name for p in booking.participants] == [saved_name, "Invité Nantes"]
        assert db.session.scalars(select(Equipment).where(Equipment.name == "Invité Nantes")).one()


def test_wizard_shows_each_refusal_at_its_step(app, login_as):
    client = login_as("creator")
    response = _wizard(client, [{"action": "next"}])
    html = response.get_data(as_text=True)
    assert "Salles" in html and 'name="step" value="1"' in html
    with app.app_context():
        room_id = rooms_of(RECTORAT)[0].id
    response = _wizard(client, [{"room": str(room_id), "action": "next"},
                                {"p-0-name": "Pont RNIS", "p-0-kind": "isdn", "p-0-vnoc_connects": "yes", "action": "next"}])
    html = response.get_data(as_text=True)
    assert "Participants" in html and 'name="step" value="2"' in html and "VNOC" in html


def test_vnoc_queue_validates_with_connection_details_and_refuses_with_a_reason(app, login_as):
    with app.test_request_context():
        rooms = rooms_of(RECTORAT)[:1]
        one = rules.create_booking(draft(rooms, day_in(23)), user("creator"), rooms)
        two = rules.create_booking(draft(rooms, day_in(23), "15:00", "16:00"), user("creator"), rooms)
        db.session.commit()
        one_id, two_id, one_ref = one.id, two.id, one.reference
    client = login_as("vnoc")
    queue = client.get("/bookings/queue/").get_data(as_text=True)
    assert f'id="booking-{one_id}"' in queue and one_ref in queue and "min" in queue
    client.post(f"/bookings/connection/{one_id}", data={"validate": "1", "connection_id": "701564",
                                                       "connection_url": "https://visio.example/701564",
                                                       "next": "/bookings/queue/"})
    client.post(f"/bookings/transition/{two_id}/refuse", data={"comment": ""})
    with app.app_context():
        one, two = db.session.get(Booking, one_id), db.session.get(Booking, two_id)
        assert (one.state, one.connection_id, one.connection_url) == (BookingState.validated, "701564",
                                                                       "https://visio.example/701564")
        assert two.state == BookingState.pending
    client.post(f"/bookings/transition/{two_id}/refuse", data={"comment": "Créneau réservé à l'inspection."})
    with app.app_context():
        assert db.session.get(Booking, two_id).state == BookingState.refused
    assert f'id="booking-{one_id}"' not in client.get("/bookings/queue/").get_data(as_text=True)
    # A Booker has no queue and cannot validate.
    creator = login_as("creator")
    assert creator.get("/bookings/queue/").status_code in (302, 403)
    assert creator.post(f"/bookings/connection/{two_id}", data={"validate": "1"}).status_code in (302, 403)


def test_todays_connections_page_and_report_exports(app, login_as):
    client = login_as("vnoc")
    page = client.get("/bookings/connections/").get_data(as_text=True)
    assert "Connexions du" in page
    with app.app_context():
        today = local_now().date()
        expected = db.session.scalar(select(func.count()).select_from(Booking).where(
            Booking.state == BookingState.validated, func.date(Booking.start_at) == today))
    if expected:
        assert "10.69" in page or "10.38" in page or "10.73" in page
    month = local_now().strftime("%Y-%m")
    report = client.get(f"/bookings/report/?month={month}").get_data(as_text=True)
    assert RECTORAT.replace("'", "&#39;") in report and UGA in report
    exported = client.get(f"/bookings/report/?month={month}&format=csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(exported.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == ["Organisation", "Salle", "Sessions", "Heures", "Participants"]
    assert {row[0] for row in rows[1:]} == {RECTORAT, UGA}
    xlsx = client.get(f"/bookings/report/?month={month}&format=xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


def test_room_calendar_page_serves_the_library_and_its_events(app, login_as):
    client = login_as("creator")
    with app.app_context():
        room = db.session.scalars(select(Room).join(Room.organisation).where(
            Room.organisation.has(name=RECTORAT))).first()
        room_id = room.id
    page = client.get(f"/rooms/calendar/{room_id}").get_data(as_text=True)
    assert "/static/vendor/fullcalendar/fullcalendar.min.js" in page
    assert client.get("/static/vendor/fullcalendar/fullcalendar.min.js").status_code == 200
    today = local_now().date()
    events = client.get(f"/rooms/calendar/{room_id}/events?start={(today - timedelta(days=30)).isoformat()}"
                        f"&end={(today + timedelta(days=40)).isoformat()}").get_json()
    assert events and all(e["url"].startswith("/bookings/show/") for e in events)


# ---------------------------------------------------------------------------
# Scope: creator2 reaches none of creator's bookings
# ---------------------------------------------------------------------------


def test_creator2_reaches_none_of_creators_bookings(app, login_as):
    with app.app_context():
        theirs = db.session.scalars(select(Booking).join(Booking.organisation).where(
            Booking.organisation.has(name=RECTORAT))).all()
        target = theirs[0]
        target_id = target.id
        refs = {b.reference for b in theirs}
        room_id = target.rooms[0].id
        equipment_name = db.session.scalars(select(Equipment.name).where(
            Equipment.organisation_id == target.organisation_id)).first()
    client = login_as("creator2")
    grid = client.get("/bookings/list/?psize_BookingView=1000").get_data(as_text=True)
    assert f"/bookings/show/{target_id}\"" not in grid
    assert client.get(f"/bookings/show/{target_id}").status_code == 404
    assert client.get(f"/api/v1/booking/{target_id}").status_code == 404
    listed = client.get("/api/v1/booking/?q=(page_size:100)").get_json()
    assert target_id not in listed["ids"]
    exported = client.get("/bookings/export/csv").get_data(as_text=True)
    assert not refs & {row[0] for row in csv.reader(io.StringIO(exported.lstrip("\ufeff")), delimiter=";")}
    assert client.get(f"/rooms/calendar/{room_id}").status_code == 404
    assert client.get(f"/rooms/calendar/{room_id}/events").status_code == 404
    report = client.get(f"/bookings/report/?month={local_now():%Y-%m}&format=csv").get_data(as_text=True)
    assert RECTORAT not in report and UGA in report
    assert client.get(f"/booking-wizard/?booking={target_id}").status_code == 404
    assert client.post(f"/bookings/transition/{target_id}/cancel", data={"comment": "x"}).status_code == 404
    names = [e["name"] for e in client.get("/booking-wizard/equipment?q=").get_json()]
    assert equipment_name not in names and names
    with app.app_context():
        assert db.session.get(Booking, target_id).state == target.state


def test_a_creator_cannot_book_another_organisations_room(app, login_as):
    with app.app_context():
        room_id = rooms_of(RECTORAT)[0].id
        before = booking_count()
    client = login_as("creator2")
    response = _wizard(client, [{"room": str(room_id), "action": "next"}])
    assert 'name="step" value="1"' in response.get_data(as_text=True)
    with app.app_context():
        assert booking_count() == before
