"""Races: many people act on one row at once, through a real HTTP server.

Each test fires a burst of concurrent requests at the live server (conftest's
`live_url`: Werkzeug's threaded server, one thread per request, so the requests
do run at the same time) and checks that exactly one wins, that only the winner's
side effects happened (one history row, one set of mails, rooms held or released
as the state says), and that every loser got an answer that names what happened
instead of a 500. They run on SQLite by default and on PostgreSQL with
DATABASE_URL.
"""
import html
import http.client
import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import time, timedelta
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Booking,
    BookingOccurrence,
    BookingState,
    HelpRequest,
    Notification,
    OutboxMail,
    Room,
    WorkflowEvent,
)
from app.rules import booking as booking_rules
from app.rules import ent as ent_rules
from app.rules.booking import BookingDraft, BookingRefused
from app.security import ENT_REFERENT, VNOC

from .helpers import DEMO_PASSWORD, local_now, member, user

RECTORAT = "Rectorat de l'académie de Lyon"
VH = "Lycée Victor Hugo"


# ---------------------------------------------------------------------------
# A small HTTP client: one cookie jar per person, any number of threads
# ---------------------------------------------------------------------------


class Visitor:
    """Someone signed in on the live server; `post` may be called from many threads
    at once (each request gets its own connection and a copy of the cookies)."""

    def __init__(self, base_url, username, password=DEMO_PASSWORD):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.cookies = {}
        status, _, _, cookies = self.request("POST", "/login/", {"username": username, "password": password})
        assert status == 302, f"{username} could not sign in ({status})"
        self.cookies = cookies

    def request(self, method, path, data=None, cookies=None):
        """(status, Location, body text, cookies after the response)."""
        cookies = dict(self.cookies if cookies is None else cookies)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
        body = None
        if data is not None:
            body = urlencode(data)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            for header in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(header).items():
                    cookies[name] = morsel.value
            return response.status, response.getheader("Location"), text, cookies
        finally:
            connection.close()

    def post_and_follow(self, path, data):
        """POST, then GET where it redirects (with the cookies it set: the flashed
        messages): (status of the POST, text of the page shown after it)."""
        status, location, text, cookies = self.request("POST", path, data)
        if status in (301, 302, 303) and location:
            target = urlsplit(location)
            _, _, text, _ = self.request("GET", target.path + (f"?{target.query}" if target.query else ""),
                                         cookies=cookies)
        return status, html.unescape(text)


def burst(calls):
    """Run every call at the same moment (a barrier releases them together)."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


# ---------------------------------------------------------------------------
# Rows to race on (written by this process, committed, then raced by the server)
# ---------------------------------------------------------------------------


def far_day(weeks):
    """A Wednesday `weeks` weeks ahead: past the demo data and the other tests' days."""
    start = local_now().date() + timedelta(weeks=weeks)
    return start - timedelta(days=start.weekday()) + timedelta(days=2)


def a_room():
    return db.session.scalars(select(Room).where(Room.organisation.has(name=RECTORAT), Room.active.is_(True))
                              .order_by(Room.id)).first()


def pending_booking(app, weeks, start="10:00", end="11:00"):
    """A pending booking of the Rectorat's first room (committed): (id, session name, mails per set)."""
    name = f"Course {uuid.uuid4().hex[:8]}"
    with app.test_request_context():
        room = a_room()
        draft = BookingDraft(room_ids=[room.id], session_name=name, organiser_name="Hélène Brun",
                             organiser_email="helene.brun@ac-lyon.example", organiser_phone="04 72 80 60 00",
                             day=far_day(weeks), start_time=time.fromisoformat(start),
                             end_time=time.fromisoformat(end))
        booking = booking_rules.create_booking(draft, user("creator"), [room])
        db.session.commit()
        return booking.id, name, mails_about(name, "booking/created")


def mails_about(name, template):
    return db.session.scalar(select(func.count()).select_from(OutboxMail).where(
        OutboxMail.template == template, OutboxMail.subject.contains(name)))


def events(object_type, object_id, *transitions):
    return db.session.scalars(select(WorkflowEvent).where(
        WorkflowEvent.object_type == object_type, WorkflowEvent.object_id == object_id,
        WorkflowEvent.transition.in_(transitions)).order_by(WorkflowEvent.id)).all()


def _extra_account(app, username, organisation, role):
    """An account for this module only: active while it runs, then inactive (the
    other modules' tests count the people of an organisation and role)."""
    with app.app_context():
        member(username, organisation, role=role).active = True
        db.session.commit()
    yield username
    with app.app_context():
        user(username).active = False
        db.session.commit()


@pytest.fixture(scope="module")
def second_vnoc(app):
    """A second VNOC operator, so that the one who lost is told about someone else."""
    yield from _extra_account(app, "vnoc2", RECTORAT, VNOC)


@pytest.fixture(scope="module")
def second_referent(app):
    yield from _extra_account(app, "referent3", VH, ENT_REFERENT)


DONE = "Vous avez "  # the winner's flash ("You have %(done)s.", e.g. "Vous avez validé cette réservation.")


def split(results):
    """(winners, losers) of a burst of post_and_follow results, by the page's flash."""
    winners = [r for r in results if DONE in r[1]]
    return winners, [r for r in results if DONE not in r[1]]


def assert_told_who(pages, actor):
    """Every loser's page names the winner (who did what, and when)."""
    for status, page in pages:
        assert status < 500
        assert actor.get_full_name() in page, page[page.find("alert"):][:600]


# ---------------------------------------------------------------------------
# One transition wins
# ---------------------------------------------------------------------------


def test_twenty_parallel_validations_give_one_event_and_one_set_of_mails(app, live_url, second_vnoc):
    booking_id, name, per_set = pending_booking(app, weeks=40)
    people = [Visitor(live_url, "vnoc"), Visitor(live_url, second_vnoc)]
    path = f"/bookings/transition/{booking_id}/validate"
    results = burst([lambda who=people[i % 2]: who.post_and_follow(path, {"comment": ""}) for i in range(20)])

    with app.app_context():
        fired = events(Booking.__tablename__, booking_id, "validate")
        mails = mails_about(name, "booking/validated")
        assert (len(fired), mails) == (1, per_set), f"{len(fired)} validate events, {mails} mails"
        assert db.session.get(Booking, booking_id).state is BookingState.validated
        assert all(status == 302 for status, _ in results), [status for status, _ in results]
        winners, losers = split(results)
        assert len(winners) == 1
        assert_told_who(losers, fired[0].actor)


def test_validate_and_refuse_at_once_leave_one_transition_and_rooms_as_the_state_says(app, live_url, second_vnoc):
    booking_id, name, per_set = pending_booking(app, weeks=41)
    validator, refuser = Visitor(live_url, "vnoc"), Visitor(live_url, second_vnoc)
    calls = [lambda: validator.post_and_follow(f"/bookings/transition/{booking_id}/validate", {})] * 10
    calls += [lambda: refuser.post_and_follow(f"/bookings/transition/{booking_id}/refuse",
                                              {"comment": "Salle en travaux."})] * 10
    results = burst(calls)

    with app.test_request_context():
        fired = events(Booking.__tablename__, booking_id, "validate", "refuse")
        booking = db.session.get(Booking, booking_id)
        mails = mails_about(name, "booking/validated") + mails_about(name, "booking/refused")
        held = [o.active for o in booking.occurrences]
        assert (len(fired), mails) == (1, per_set), (
            f"{[e.transition for e in fired].count('validate')} validate and "
            f"{[e.transition for e in fired].count('refuse')} refuse events, {mails} mails, "
            f"{booking.state.name} with occurrences active: {held}")
        assert all(status == 302 for status, _ in results)
        if booking.state is BookingState.validated:
            assert fired[0].transition == "validate" and all(held), held
        else:
            assert booking.state is BookingState.refused
            assert fired[0].transition == "refuse" and not any(held), held
        # The room and slot are free exactly when the booking was refused.
        room = a_room()
        draft = BookingDraft(room_ids=[room.id], session_name="Autre", organiser_name="Paul Roche",
                             organiser_email="p.roche@ac-lyon.example", organiser_phone="04 72 80 60 01",
                             day=booking.start_at.date(), start_time=booking.start_at.time(),
                             end_time=booking.end_at.time())
        if booking.state is BookingState.validated:
            with pytest.raises(BookingRefused):
                booking_rules.create_booking(draft, user("creator"), [room])
        else:
            booking_rules.create_booking(draft, user("creator"), [room])
        db.session.rollback()
        winners, losers = split(results)
        assert len(winners) == 1
        assert_told_who(losers, fired[0].actor)


@pytest.mark.parametrize("opened", [False, True], ids=["from-new", "from-open"])
def test_twenty_parallel_escalations_give_one_escalation(app, live_url, second_referent, opened):
    """From New the escalation also changes the status; from Open it keeps it, so the
    compare-and-set on the status cannot tell: the row lock and the guard do."""
    with app.app_context():
        item = ent_rules.create_request(user("student"), application_id=ent_rules.active_applications()[0].id,
                                        subject=f"Course {uuid.uuid4().hex[:8]}", description="Rien ne s'affiche.")
        if opened:
            ent_rules.REQUEST_WORKFLOW.fire(item, "open", user("referent"))
        db.session.commit()
        request_id = item.id
    people = [Visitor(live_url, "referent"), Visitor(live_url, second_referent)]
    path = f"/helprequests/transition/{request_id}/escalate"
    results = burst([lambda who=people[i % 2]: who.post_and_follow(path, {"comment": "Pour le support."})
                     for i in range(20)])

    with app.app_context():
        fired = events(HelpRequest.__tablename__, request_id, "escalate")
        notified = db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.template == "ent/request_escalated",
            Notification.link == f"/helprequests/show/{request_id}"))
        item = db.session.get(HelpRequest, request_id)
        recipients = 1 + len(ent_rules.desk_agents_of(item.support_desk_id))
        assert (len(fired), notified) == (1, recipients), f"{len(fired)} escalations, {notified} notifications"
        assert item.escalated and item.support_reference == ent_rules.support_reference_for(item)
        assert all(status == 302 for status, _ in results)
        winners, losers = split(results)
        assert len(winners) == 1
        assert_told_who(losers, fired[0].actor)


# ---------------------------------------------------------------------------
# No double booking, on SQLite as on PostgreSQL
# ---------------------------------------------------------------------------


def test_thirty_concurrent_wizard_confirmations_of_one_slot_make_one_booking(app, live_url):
    name = f"Course {uuid.uuid4().hex[:8]}"
    with app.app_context():
        room = a_room()
        room_id = room.id
    draft = BookingDraft(room_ids=[room_id], session_name=name, organiser_name="Hélène Brun",
                         organiser_email="helene.brun@ac-lyon.example", organiser_phone="04 72 80 60 00",
                         day=far_day(42), start_time=time(14, 0), end_time=time(15, 0))
    creator = Visitor(live_url, "creator")
    data = {"draft": json.dumps(draft.to_dict()), "step": "4", "action": "confirm"}
    results = burst([lambda: creator.request("POST", "/booking-wizard/", data) for _ in range(30)])

    with app.app_context():
        made = db.session.scalar(select(func.count()).select_from(Booking).where(Booking.session_name == name))
        held = db.session.scalar(select(func.count()).select_from(BookingOccurrence).where(
            BookingOccurrence.room_id == room_id, BookingOccurrence.active.is_(True),
            func.date(BookingOccurrence.start_at) == draft.day))
    statuses = [status for status, _, _, _ in results]
    assert (made, held) == (1, 1), f"{made} bookings, {held} held occurrences; answers {statuses}"
    assert statuses == [200] * 30, statuses
    pages = [html.unescape(text) for _, _, text, _ in results]
    assert sum('class="booking-reference"' in page for page in pages) == 1
    for page in pages:
        if 'class="booking-reference"' not in page:
            # Back in the wizard, the slot's refusal shown on the rooms ("Salles : ...").
            problems = page.partition('booking-problems">')[2].partition("</div>")[0]
            assert "Salles" in problems, page


def test_modifications_racing_a_refusal_never_bring_a_refused_booking_back(app, live_url, second_vnoc):
    """A modification sends the booking back to pending, so modifications and one
    refusal may each win in turn; but once refused, no modification goes through,
    and the booking's rooms are released."""
    booking_id, name, per_set = pending_booking(app, weeks=43)
    with app.app_context():
        draft = BookingDraft.from_booking(db.session.get(Booking, booking_id))
    draft.start_time, draft.end_time = time(15, 0), time(16, 0)
    creator, refuser = Visitor(live_url, "creator"), Visitor(live_url, second_vnoc)
    change = {"draft": json.dumps(draft.to_dict()), "step": "4", "action": "confirm", "booking": str(booking_id)}
    calls = [lambda: creator.post_and_follow("/booking-wizard/", change)] * 10
    calls += [lambda: refuser.post_and_follow(f"/bookings/transition/{booking_id}/refuse",
                                              {"comment": "Salle en travaux."})] * 10
    results = burst(calls)

    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        history = [e.transition for e in events(Booking.__tablename__, booking_id, "modify", "refuse")]
        held = [o.active for o in booking.occurrences]
        assert history.count("refuse") == 1 and history[-1] == "refuse", history
        assert booking.state is BookingState.refused and not any(held), (booking.state, held)
        assert mails_about(name, "booking/refused") == per_set
        (refusal,) = events(Booking.__tablename__, booking_id, "refuse")
        modified = [page for _, page in results[:10] if 'class="booking-reference"' in page]
        assert len(modified) == history.count("modify")
        # Every other modification, and every refusal but one, was told who refused it.
        assert_told_who([r for r in results[:10] if 'class="booking-reference"' not in r[1]], refusal.actor)
        assert_told_who([r for r in results[10:] if DONE not in r[1]], refusal.actor)
        assert all(status in (200, 302) for status, _ in results), [status for status, _ in results]


def test_a_booking_that_cannot_get_the_write_lock_is_a_refusal_not_an_error(app):
    """SQLite: past the busy timeout, `serialise` refuses (nothing written) instead of
    letting "database is locked" become a 500."""
    from app.platform import transactions

    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's write lock")
        other = db.engine.connect()
        other.exec_driver_sql("BEGIN IMMEDIATE")  # someone else is writing
        try:
            db.session.connection().exec_driver_sql("PRAGMA busy_timeout = 50")
            with pytest.raises(transactions.Busy):
                transactions.serialise()
        finally:
            db.session.connection().exec_driver_sql("PRAGMA busy_timeout = 5000")  # sqlite3's default
            db.session.rollback()
            other.rollback()
            other.close()


# ---------------------------------------------------------------------------
# A person's first sign-ins at once (a team's door phones): one stamp, all signed in
# ---------------------------------------------------------------------------


def test_ten_first_sign_ins_of_one_person_at_once_share_one_stamp(app):
    """The stamp a session carries is made on the first sign-in: ten at once make one,
    and none fails (each thread is a request of its own, released together)."""
    from app.demo.platform import ensure_account
    from app.models import SecurityStamp
    from app.security import USER, stamp_for_sign_in

    with app.app_context():
        person = ensure_account(f"door-{uuid.uuid4().hex[:6]}", USER, "Porte", "Nord", [])
        db.session.query(SecurityStamp).filter_by(user_id=person.id).delete()
        db.session.commit()
        person_id = person.id

    def first_sign_in():
        with app.app_context():
            try:
                return stamp_for_sign_in(person_id)
            finally:
                db.session.remove()

    stamps = burst([first_sign_in] * 10)
    with app.app_context():
        assert stamps == [db.session.scalar(select(SecurityStamp.stamp).where(
            SecurityStamp.user_id == person_id))] * 10
