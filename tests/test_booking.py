"""Desk A, visio booking: every rule of DESIGN §3, the mails and their recipients,
the workflow, the screens, and the row scope between two member organisations."""
import csv
import io
import json
import os
import re
import threading
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from icalendar import Calendar
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


# ---------------------------------------------------------------------------
# Series: the .ics of every session, conflicts resolved at review, one session cancelled
# ---------------------------------------------------------------------------

PARIS = ZoneInfo("Europe/Paris")


def _next_clock_change():
    """The Monday of the week before the next change of summer time (at least 3 weeks
    ahead): a weekly 10:00 from it keeps 10:00 in Paris across the change."""
    day = local_now().date() + timedelta(weeks=3)
    while datetime.combine(day, time(12), PARIS).utcoffset() == datetime.combine(
            day + timedelta(days=7), time(12), PARIS).utcoffset():
        day += timedelta(days=1)
    return day - timedelta(days=day.weekday())


def _sent_calendars(mailbox, recipient, template_words):
    """The .ics attachments of the mails `recipient` received whose subject holds `template_words`."""
    found = []
    for recipients, message in mailbox.messages:
        if recipient in recipients and template_words in message["Subject"]:
            for part in message.iter_attachments():
                if part.get_content_type() == "text/calendar":
                    found.append(Calendar.from_ical(part.get_content()))
    return found


def _expanded(calendar):
    """Every session a calendar application shows for this calendar, in Paris time."""
    return [event.decoded("dtstart").astimezone(PARIS).replace(tzinfo=None)
            for event in recurring_ical_events.of(calendar).between(datetime(2000, 1, 1), datetime(2100, 1, 1))]


def test_the_ics_of_a_series_holds_every_session_and_one_cancelled_gets_its_cancel(app, mailbox):
    """A weekly series of four sessions across a change of summer time, its second date
    skipped at review: the .ics of the mail sent holds the three sessions at 10:00 Paris
    time; cancelling one of them mails its CANCEL (RECURRENCE-ID, higher SEQUENCE),
    frees that slot only, and the next mails no longer hold it."""
    monday = _next_clock_change()
    weeks = [datetime.combine(monday + timedelta(weeks=n), time(10)) for n in range(4)]
    with app.test_request_context():
        rooms = rooms_of(RECTORAT)[:1]
        series = draft(rooms, monday, session_name="Conseil des IEN", recurrence="weekly", recurrence_count=4,
                       exceptions={weeks[1].date().isoformat(): {"skip": True}})
        booking = rules.create_booking(series, user("creator"), rooms)
        db.session.commit()
        booking_id, reference = booking.id, booking.reference
    [created] = _sent_calendars(mailbox, "helene.brun@ac-lyon.example", reference)
    assert str(created["method"]) == "REQUEST"
    assert _expanded(created) == [weeks[0], weeks[2], weeks[3]]
    master = next(e for e in created.walk("VEVENT") if "RRULE" in e)
    assert master["dtstart"].params["TZID"] == "Europe/Paris"
    assert {e.astimezone(PARIS).hour for e in _expanded_utc(created)} == {10}

    mailbox.messages.clear()
    with app.test_request_context():
        booking = db.session.get(Booking, booking_id)
        rules.cancel_occurrence(booking, weeks[2], user("creator"), "Jour férié.")
        db.session.commit()
    [cancel] = _sent_calendars(mailbox, "helene.brun@ac-lyon.example", reference)
    assert str(cancel["method"]) == "CANCEL"
    [event] = cancel.walk("VEVENT")
    assert event.decoded("recurrence-id").astimezone(PARIS).replace(tzinfo=None) == weeks[2]
    assert str(event["uid"]) == str(master["uid"]) and int(event["sequence"]) > int(master["sequence"])
    assert str(event["status"]) == "CANCELLED"
    with app.test_request_context():
        booking = db.session.get(Booking, booking_id)
        assert sorted(o.start_at for o in booking.occurrences if o.active) == [weeks[0], weeks[3]]
        assert rules.problems(draft(rooms_of(RECTORAT)[:1], weeks[2].date()), user("creator"),
                              rooms_of(RECTORAT)[:1]) == []
        history = rules.BOOKING_WORKFLOW.history(booking)
        assert [e.transition for e in history] == ["cancel_occurrence"] and history[0].comment == "Jour férié."

    mailbox.messages.clear()
    with app.test_request_context():
        rules.BOOKING_WORKFLOW.fire(db.session.get(Booking, booking_id), "validate", user("vnoc"))
        db.session.commit()
    [validated] = _sent_calendars(mailbox, "helene.brun@ac-lyon.example", reference)
    assert _expanded(validated) == [weeks[0], weeks[3]]


def _expanded_utc(calendar):
    return [event.decoded("dtstart") for event in
            recurring_ical_events.of(calendar).between(datetime(2000, 1, 1), datetime(2100, 1, 1))]


def _form_of(response):
    import html as html_module

    page = response.get_data(as_text=True)
    return page, {"draft": html_module.unescape(page.split('name="draft" value="')[1].split('"')[0]),
                  "step": page.split('name="step" value="')[1].split('"')[0]}


def _series_steps(room_id, day, name, count=3):
    return [
        {"room": str(room_id), "action": "next"},
        {"action": "next"},
        {"session_name": name, "organiser_name": "Sophie Lambert", "organiser_email": "s.lambert@ac-lyon.example",
         "organiser_phone": "04 72 80 60 10", "creator_phone": "04 72 80 61 99", "day": day.isoformat(),
         "start_time": "10:00", "end_time": "11:00", "recurrence": "weekly", "recurrence_count": str(count),
         "action": "next"},
    ]


def _hold(app, room, day, start="10:00", end="11:00"):
    """Another booking holding `room` on `day` (committed); its reference."""
    with app.test_request_context():
        room = db.session.get(Room, room.id)
        other = rules.create_booking(draft([room], day, start, end, session_name="Déjà là"), user("creator"), [room])
        db.session.commit()
        return other.reference


def test_review_lists_a_conflicting_date_and_the_booker_skips_it(app, login_as):
    with app.app_context():
        room, other_room = rooms_of(RECTORAT)[:2]
    first = day_in(45)
    taken = _hold(app, room, first + timedelta(weeks=1), "10:30", "11:30")
    client = login_as("creator")
    review = _wizard(client, _series_steps(room.id, first, "Réunion des IEN"))
    page, form = _form_of(review)
    assert 'name="step" value="4"' in page  # never back to step 1 for one date
    assert page.count('class="list-group-item booking-conflict"') == 1
    key = (first + timedelta(weeks=1)).isoformat()
    assert f'value="skip:{key}"' in page and taken in page  # the booking it overlaps, visible to its organisation
    assert f'<option value="{other_room.id}">{other_room.name}</option>' in page  # free then
    assert 'class="btn btn-link btn-sm booking-suggestion"' in page
    assert "Confirmer la réservation" not in page

    page, form = _form_of(client.post("/booking-wizard/", data={**form, "action": f"skip:{key}"}))
    assert 'class="list-group-item booking-conflict"' not in page and "ignorée" in page
    done = client.post("/booking-wizard/", data={**form, "action": "confirm"}).get_data(as_text=True)
    reference = done.split('class="booking-reference">')[1].split("<")[0]
    with app.app_context():
        booking = db.session.scalars(select(Booking).where(Booking.reference == reference)).one()
        assert [o.start_at.date() for o in booking.occurrences] == [first, first + timedelta(weeks=2)]
        assert booking.creator_phone == "04 72 80 61 99"
        assert rules.calendar_of(booking).skipped == [datetime.combine(first + timedelta(weeks=1), time(10))]


def test_review_holds_a_conflicting_date_in_another_room_or_moves_it(app, login_as):
    with app.app_context():
        room, other_room = rooms_of(RECTORAT)[:2]
    first = day_in(50)
    second, third = first + timedelta(weeks=1), first + timedelta(weeks=2)
    _hold(app, room, second)
    _hold(app, room, third, "09:30", "10:30")
    client = login_as("creator")
    page, form = _form_of(_wizard(client, _series_steps(room.id, first, "Comité de suivi")))
    assert page.count('class="list-group-item booking-conflict"') == 2
    page, form = _form_of(client.post("/booking-wizard/", data={
        **form, "action": f"room:{second.isoformat()}:{room.id}", f"room-{second.isoformat()}-{room.id}": str(other_room.id)}))
    assert page.count('class="list-group-item booking-conflict"') == 1
    suggestion = page.split(f'value="slot:{third.isoformat()}:')[1].split('"')[0]
    start, end = (datetime.fromisoformat(part) for part in suggestion.split("/"))
    assert end - start == timedelta(hours=1)
    page, form = _form_of(client.post("/booking-wizard/", data={**form, "action": f"slot:{third.isoformat()}:{suggestion}"}))
    assert 'class="list-group-item booking-conflict"' not in page
    done = client.post("/booking-wizard/", data={**form, "action": "confirm"}).get_data(as_text=True)
    reference = done.split('class="booking-reference">')[1].split("<")[0]
    with app.app_context():
        booking = db.session.scalars(select(Booking).where(Booking.reference == reference)).one()
        held = {(o.start_at, o.room_id) for o in booking.occurrences}
        assert held == {(datetime.combine(first, time(10)), room.id), (datetime.combine(second, time(10)), other_room.id),
                        (start, room.id)}
        # Changed again through the wizard, the series keeps what was chosen for each date.
        again = BookingDraft.from_booking(booking)
        assert again.exceptions == {second.isoformat(): {"rooms": {str(room.id): other_room.id}},
                                    third.isoformat(): {"day": start.date().isoformat(), "start": start.strftime("%H:%M"),
                                                        "end": end.strftime("%H:%M")}}


def test_a_single_session_in_conflict_is_offered_another_room_at_review(app, login_as):
    with app.app_context():
        room, other_room = rooms_of(RECTORAT)[:2]
    day = day_in(54)
    _hold(app, room, day)
    client = login_as("creator")
    steps = _series_steps(room.id, day, "Entretien")
    steps[2]["recurrence"] = ""
    page, form = _form_of(_wizard(client, steps))
    assert 'name="step" value="4"' in page and "Ignorer cette date" not in page
    page, form = _form_of(client.post("/booking-wizard/", data={
        **form, "action": f"room:{day.isoformat()}:{room.id}", f"room-{day.isoformat()}-{room.id}": str(other_room.id)}))
    assert "Confirmer la réservation" in page
    done = client.post("/booking-wizard/", data={**form, "action": "confirm"}).get_data(as_text=True)
    reference = done.split('class="booking-reference">')[1].split("<")[0]
    with app.app_context():
        booking = db.session.scalars(select(Booking).where(Booking.reference == reference)).one()
        assert [r.id for r in booking.rooms] == [other_room.id]


def test_cancel_asks_first_and_may_cancel_one_session_only(app, login_as):
    first = day_in(56)
    with app.test_request_context():
        rooms = rooms_of(RECTORAT)[:1]
        booking = rules.create_booking(draft(rooms, first, recurrence="weekly", recurrence_count=3), user("creator"), rooms)
        db.session.commit()
        booking_id = booking.id
    client = login_as("creator")
    show = client.get(f"/bookings/show/{booking_id}").get_data(as_text=True)
    assert f'href="/bookings/cancel/{booking_id}"' in show  # the action asks first: no form fires it here
    assert f'action="/bookings/transition/{booking_id}/cancel"' not in show
    second = datetime.combine(first + timedelta(weeks=1), time(10))
    link = f"/bookings/cancel/{booking_id}?what={second.isoformat()}"
    assert link in show or link.replace(":", "%3A") in show
    page = client.get(f"/bookings/cancel/{booking_id}?what={second.isoformat()}").get_data(as_text=True)
    assert 'value="all"' in page and f'value="{second.isoformat()}" checked' in page
    assert "Confirmer l&#39;annulation" in page or "Confirmer l'annulation" in page
    with app.app_context():
        assert all(o.active for o in db.session.get(Booking, booking_id).occurrences)  # nothing yet
    client.post(f"/bookings/cancel/{booking_id}", data={"what": second.isoformat(), "comment": "Salle prise"})
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        assert booking.state is BookingState.pending
        assert [o.start_at for o in booking.occurrences if not o.active] == [second]
    show = client.get(f"/bookings/show/{booking_id}").get_data(as_text=True)
    assert "Séance annulée" in show and "Salle prise" in show
    client.post(f"/bookings/cancel/{booking_id}", data={"what": "all"})
    with app.app_context():
        assert db.session.get(Booking, booking_id).state is BookingState.cancelled
    # Another organisation's booker reaches neither the page nor the action.
    assert login_as("creator2").get(f"/bookings/cancel/{booking_id}").status_code == 404


def test_the_history_says_what_a_modification_changed(app, login_as):
    day = day_in(60)
    with app.test_request_context():
        rooms = rooms_of(RECTORAT)[:2]
        booking = rules.create_booking(draft(rooms[:1], day), user("creator"), rooms[:1])
        rules.modify_booking(booking, draft(rooms[1:2], day, "14:00", "15:30", session_name="Réunion déplacée"),
                             user("creator"), rooms[1:2])
        db.session.commit()
        booking_id = booking.id
        [event] = rules.BOOKING_WORKFLOW.history(db.session.get(Booking, booking_id))
        changed = {name: (old, new) for name, old, new in event.changes}
        assert set(changed) == {"rooms", "session_name", "day"}
        assert changed["rooms"] == (rooms[0].name, rooms[1].name)
        assert changed["session_name"] == ("Réunion de rentrée", "Réunion déplacée")
        assert "10:00" in changed["day"][0] and "14:00" in changed["day"][1]
    show = login_as("creator").get(f"/bookings/show/{booking_id}").get_data(as_text=True)
    assert "Nom de la session : Réunion de rentrée → <strong>Réunion déplacée</strong>" in show


# ---------------------------------------------------------------------------
# The free/busy grid, the rooms' feeds, the participants table, the queue, the report
# ---------------------------------------------------------------------------


def test_free_busy_grid_shows_each_room_by_day_and_week_and_opens_the_wizard(app, login_as):
    day = day_in(62)
    with app.test_request_context():
        room = rooms_of(RECTORAT)[0]
        booking = rules.create_booking(draft([room], day, "10:00", "11:00", session_name="Grille"), user("creator"), [room])
        db.session.commit()
        reference, room_id = booking.reference, room.id
        theirs = [r.name for r in rooms_of(UGA)]
    client = login_as("creator")
    page = client.get(f"/rooms/freebusy/?day={day.isoformat()}").get_data(as_text=True)
    row = page.split(f'<tr data-room="{room_id}">')[1].split("</tr>")[0]
    assert f"{reference} · En attente" in row and 'class="freebusy-busy freebusy-pending"' in row
    assert row.count('class="freebusy-buffer"') == 2  # before and after
    assert not any(name in page for name in theirs)  # other organisations' rooms are not shown
    link = f'/booking-wizard/?room={room_id}&amp;day={day.isoformat()}&amp;start=14:00&amp;end=15:00'
    assert link.replace(":", "%3A") in row or link in row
    week = client.get(f"/rooms/freebusy/?view=week&day={day.isoformat()}").get_data(as_text=True)
    assert week.count('<table class="freebusy"') == 5 and reference in week
    assert client.get("/rooms/freebusy/?view=year").status_code == 400
    wizard = client.get(f"/booking-wizard/?room={room_id}&day={day.isoformat()}&start=14:00&end=15:00")
    page, form = _form_of(wizard)
    assert f'name="room" value="{room_id}" checked' in page
    prefilled = json.loads(form["draft"])
    assert (prefilled["day"], prefilled["start_time"], prefilled["end_time"]) == (day.isoformat(), "14:00", "15:00")
    # Another organisation's room cannot be slipped in.
    with app.app_context():
        their_room = rooms_of(UGA)[0].id
    page, form = _form_of(client.get(f"/booking-wizard/?room={their_room}&day={day.isoformat()}"))
    assert json.loads(form["draft"])["room_ids"] == []


def test_the_vnoc_sees_every_room_and_bookers_see_no_other_organisations_session(app, login_as):
    day = day_in(62)
    with app.app_context():
        names = [r.name for r in rooms_of(UGA)] + [r.name for r in rooms_of(RECTORAT)]
    page = login_as("vnoc").get(f"/rooms/freebusy/?day={day.isoformat()}").get_data(as_text=True)
    assert all(name.replace("'", "&#39;") in page for name in names)


def test_a_rooms_feed_is_secret_revocable_and_lists_its_sessions(app, login_as):
    day = day_in(24, weekday=3)  # inside the feed's window (six months)
    with app.test_request_context():
        room = rooms_of(RECTORAT)[0]
        pending = rules.create_booking(draft([room], day, "10:00", "11:00", session_name="Flux en attente"),
                                       user("creator"), [room])
        validated = rules.create_booking(draft([room], day, "14:00", "15:00", session_name="Flux validé"),
                                         user("creator"), [room])
        rules.BOOKING_WORKFLOW.fire(validated, "validate", user("vnoc"))
        db.session.commit()
        room_id, pending_reference, validated_reference = room.id, pending.reference, validated.reference
    assert login_as("creator").post(f"/rooms/feed/{room_id}").status_code in (302, 403)
    vnoc = login_as("vnoc")
    vnoc.post(f"/rooms/feed/{room_id}", data={"action": "issue"})
    show = vnoc.get(f"/rooms/show/{room_id}").get_data(as_text=True)
    url = show.split('id="feed-url" readonly value="')[1].split('"')[0]
    path = url.replace(app.config["PUBLIC_URL"], "")
    anonymous = app.test_client()
    response = anonymous.get(path)
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    events = {str(e["summary"]): e for e in Calendar.from_ical(response.data).walk("VEVENT")}
    assert str(events[f"{pending_reference} Flux en attente"]["status"]) == "TENTATIVE"
    assert str(events[f"{validated_reference} Flux validé"]["status"]) == "CONFIRMED"
    assert anonymous.get(path[:-8] + "x" * 4 + ".ics").status_code == 404
    vnoc.post(f"/rooms/feed/{room_id}", data={"action": "issue"})
    assert anonymous.get(path).status_code == 404  # a new address revokes the old one
    vnoc.post(f"/rooms/feed/{room_id}", data={"action": "revoke"})
    with app.app_context():
        assert db.session.get(Room, room_id).feed_token is None


def test_a_participant_error_is_shown_on_its_cell_only(app, login_as):
    client = login_as("creator")
    with app.app_context():
        room_id = rooms_of(RECTORAT)[0].id
    response = _wizard(client, [{"room": str(room_id), "action": "next"},
                                {"p-0-name": "Salle A", "p-0-kind": "ip", "p-0-vnoc_connects": "no",
                                 "p-1-name": "Pont RNIS", "p-1-kind": "isdn", "p-1-vnoc_connects": "yes",
                                 "action": "next"}])
    page = response.get_data(as_text=True)
    assert 'name="step" value="2"' in page
    assert page.count('aria-invalid="true"') == 1
    assert 'name="p-1-vnoc_connects" aria-label="Accueil par le VNOC" aria-invalid="true" aria-describedby="p-1-vnoc_connects-error"' in page
    assert 'id="p-1-vnoc_connects-error"' in page and "has-error" not in page.split("<table")[0].split("participants")[-1]
    assert "<option value=\"isdn\" selected>Visio RNIS</option>" in page
    assert "function wire" not in page and 'js/wizard.js' in page  # the script is a static file


def test_the_queue_shows_the_requesters_phone(app, login_as):
    with app.test_request_context():
        rooms = rooms_of(RECTORAT)[:1]
        booking = rules.create_booking(draft(rooms, day_in(66), creator_phone="04 72 80 61 23"), user("creator"), rooms)
        db.session.commit()
        booking_id = booking.id
    queue = login_as("vnoc").get("/bookings/queue/").get_data(as_text=True)
    row = queue.split(f'id="booking-{booking_id}"')[1].split("</tr>")[0]
    assert 'href="tel:0472806123"' in row and "Sophie Lambert" in row


def test_usage_report_in_hours_and_minutes_with_filters_and_a_chart(app, login_as):
    month = (day_in(70, weekday=0).replace(day=1) + timedelta(days=31)).replace(day=1)
    first_monday = month + timedelta(days=(7 - month.weekday()) % 7)
    with app.test_request_context():
        room, other = rooms_of(RECTORAT)[:2]
        for target, end in ((room, "11:30"), (other, "10:45")):
            booking = rules.create_booking(draft([target], first_monday, "10:00", end), user("creator"), [target])
            rules.BOOKING_WORKFLOW.fire(booking, "validate", user("vnoc"))
        db.session.commit()
        room_id, other_id = room.id, other.id
        organisation_id = room.organisation_id
        their_room = rooms_of(UGA)[0].id
    client = login_as("creator")
    page = client.get(f"/bookings/report/?month={month:%Y-%m}").get_data(as_text=True)
    hours = re.findall(r'<t([dh]) class="booking-hours"[^>]*>([^<]*)</t[dh]>', page)
    assert ("d", "1:30") in hours and ("d", "0:45") in hours and ("h", "2:15") in hours
    assert 'id="report-chart"' in page and 'data-type="BarChart"' in page and "vendor/chart.js/chart.min.js" in page
    assert client.get("/static/vendor/chart.js/chart.min.js").status_code == 200
    filtered = client.get(f"/bookings/report/?month={month:%Y-%m}&room={room_id}").get_data(as_text=True)
    assert "1:30" in filtered and "0:45" not in filtered
    by_org = client.get(f"/bookings/report/?month={month:%Y-%m}&organisation={organisation_id}").get_data(as_text=True)
    assert "2:15" in by_org
    assert client.get(f"/bookings/report/?month={month:%Y-%m}&room={their_room}").status_code == 400
    assert client.get(f"/bookings/report/?month={month:%Y-%m}&organisation=abc").status_code == 400
    exported = client.get(f"/bookings/report/?month={month:%Y-%m}&room={other_id}&format=csv").get_data(as_text=True)
    assert list(csv.reader(io.StringIO(exported.lstrip("\ufeff")), delimiter=";"))[1][3] == "0:45"


def test_the_login_page_shows_whom_to_call(app):
    page = app.test_client().get("/login/").get_data(as_text=True)
    assert app.config["LOGIN_CONTACT"] in page and 'id="login-contact"' in page


def test_the_outbox_lists_a_mails_attachments_and_serves_them(app, login_as):
    with app.test_request_context():
        rooms = rooms_of(RECTORAT)[:1]
        booking = rules.create_booking(draft(rooms, day_in(68)), user("creator"), rooms)
        db.session.commit()
        mail = db.session.scalars(select(OutboxMail).where(OutboxMail.subject.contains(booking.reference))).first()
        mail_id, attachment_id = mail.id, mail.attachments[0].id
        name = mail.attachments[0].filename
    admin = login_as("admin")
    page = admin.get(f"/outbox/show/{mail_id}").get_data(as_text=True)
    assert name in page and "text/calendar; charset=utf-8; method=REQUEST" in page
    assert re.search(r"\d+ octets|\d+,\d Ko|\d+\.\d Ko", page)  # its size
    download = admin.get(f"/outbox/attachment/{mail_id}/{attachment_id}")
    assert download.status_code == 200 and download.mimetype == "text/calendar"
    assert b"BEGIN:VCALENDAR" in download.data and name in download.headers["Content-Disposition"]
    assert admin.get(f"/outbox/attachment/{mail_id}/{attachment_id + 100000}").status_code == 404
    assert login_as("vnoc").get(f"/outbox/attachment/{mail_id}/{attachment_id}").status_code in (302, 403, 404)


def test_refusing_from_the_queue_stays_in_the_queue(app, login_as):
    with app.test_request_context():
        rooms = rooms_of(RECTORAT)[:1]
        booking = rules.create_booking(draft(rooms, day_in(66), "15:00", "16:00"), user("creator"), rooms)
        other = rules.create_booking(draft(rooms, day_in(66), "08:30", "09:30"), user("creator"), rooms)
        db.session.commit()
        booking_id, other_id = booking.id, other.id
    vnoc = login_as("vnoc")
    response = vnoc.post(f"/bookings/transition/{booking_id}/refuse",
                         data={"comment": "Salle en travaux, rappel fait.", "next": "/bookings/queue/"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/bookings/queue/")
    # Only a path of this site: anything else goes back to the booking.
    response = vnoc.post(f"/bookings/transition/{other_id}/refuse",
                         data={"comment": "Doublon.", "next": "//evil.example/"})
    assert response.headers["Location"].endswith(f"/bookings/show/{other_id}")
