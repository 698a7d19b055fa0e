"""Desk D, leaving and mails: an external account deletes itself 30 days after the end of
the last event it holds a place for (its own or a guest's it paid for), its personal data
erased while its places and payments stay, shown as "Anonyme"; the "place paid" mail,
whether a gateway or an organiser marks it paid; the reminder the day before, a periodic
job that mails each person once."""
import csv
import io
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from babel.dates import format_date
from flask import current_app
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select

from app.extensions import db
from app.models import (
    Event,
    EventVisibility,
    ExtraInfoAnswer,
    OutboxMail,
    Payment,
    PaymentAccount,
    PaymentProvider,
    PaymentState,
    PersonProfile,
    Reservation,
    ReservationState,
    StoredFile,
    TicketType,
    WorkflowEvent,
)
from app.platform import files
from app.platform.clock import local_today, to_utc, zone
from app.rules import events as rules
from app.security import USER

from .helpers import DEMO_PASSWORD, BearerClient, stored_paths, upload, user
from .payment_gateways import PAYPAL_RECEIVER, fake, gateways  # noqa: F401
from .test_events import _association

_PEOPLE = []


@pytest.fixture(scope="module", autouse=True)
def people_retired(app):
    """The accounts made here are made inactive afterwards, so that no other test counts them."""
    yield
    with app.app_context():
        for login in _PEOPLE:
            account = user(login)
            if account is not None:
                account.active = False
        db.session.commit()


def _person(school=None):
    """A new account with the User role only (external unless `school`), who signs in with
    the demo password; committed."""
    sm = current_app.appbuilder.sm
    tag = uuid.uuid4().hex[:8]
    login = f"margot-{tag}"
    person = sm.add_user(login, "Margot", f"Leroux{tag}", f"margot.{tag}@example.org", [sm.find_role(USER)],
                         password=DEMO_PASSWORD)
    db.session.add(PersonProfile(user_id=person.id, school_id=school.id if school else None))
    db.session.commit()
    _PEOPLE.append(login)
    return person


def _sale(starts_on, hours=4, price="0", limit=0, paypal=False, item=False):
    """A BDE event starting at `starts_on` (UTC), on sale from an hour ago until it starts,
    with one open ticket; paid by the BDE's PayPal account when `paypal`, with a text and a
    file item to give when `item`. Committed; (event id, ticket type id)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    organiser = user("eventadmin")
    event = rules.create_event(organiser, _association(), name=f"Soirée {uuid.uuid4().hex[:8]}",
                               starts_on=starts_on, ends_on=starts_on + timedelta(hours=hours),
                               sale_opens_on=now - timedelta(hours=1), sale_closes_on=starts_on,
                               visibility=EventVisibility.public, sponsorship_limit=limit, place="Lyon")
    ticket_type = rules.save_ticket_type(organiser, event, name="Place", kind="open", price=price, capacity=50)
    if paypal:
        event.paypal_account_id = db.session.scalars(select(PaymentAccount.id).where(
            PaymentAccount.organisation_id == _association().organisation_id,
            PaymentAccount.provider == PaymentProvider.paypal)).first()
    if item:
        rules.save_extra_info(organiser, ticket_type, label="Régime alimentaire", kind="text")
        rules.save_extra_info(organiser, ticket_type, label="Pièce d'identité", kind="file")
    db.session.commit()
    return event.id, ticket_type.id


def _book(person, event_id, ticket_type_id, guest=None):
    places = rules.book(person, db.session.get(Event, event_id), ticket_type_id,
                        guests=[{"name": guest[0], "email": guest[1]}] if guest else ())
    db.session.commit()
    return [place.id for place in places]


def _in_days(days, at=time(20)):
    return to_utc(datetime.combine(local_today() + timedelta(days=days), at))


def _leaving_day(ends_on):
    return ends_on.replace(tzinfo=UTC).astimezone(zone()).date() + timedelta(days=30)


def _travel_to(day):
    """The clock stopped on `day` at 10:00 local time."""
    return time_machine.travel(datetime.combine(day, time(10), zone()).astimezone(UTC), tick=False)


def _ipn(fake, place_id, amount="20.00"):
    from app.platform import payments

    return fake.ipn(mc_gross=amount, payment_status="Completed", charset="UTF-8",
                    custom=payments.reference(rules.PAYABLE_KIND, place_id), payer_email="margot@example.org",
                    txn_id=uuid.uuid4().hex[:17].upper(), receiver_email=PAYPAL_RECEIVER, business=PAYPAL_RECEIVER,
                    txn_type="web_accept", mc_currency="EUR", first_name="Margot", last_name="Leroux")


def _pay_online(app, fake, place_id):
    response = app.test_client().post("/payments/paypal/ipn", data=_ipn(fake, place_id),
                                      content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200


def _csv(response):
    assert response.status_code == 200, response.status_code
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))


# ---------------------------------------------------------------------------
# Leaving
# ---------------------------------------------------------------------------


def test_too_early_the_page_says_from_when_counting_the_guests_places_and_a_post_changes_nothing(
        app, session, clock, login_as):
    person = _person()
    first_id, first_type = _sale(_in_days(9))
    later_id, later_type = _sale(_in_days(20), limit=1)
    _book(person, first_id, first_type)
    own, _guest = _book(person, later_id, later_type, guest=("Jules Martin", "jules@example.org"))
    # Her own place at the later event is opposed: the guest's she took still binds her.
    rules.RESERVATION_WORKFLOW.fire(session.get(Reservation, own), "oppose", user("eventadmin"), "Doublon")
    session.commit()
    day = _leaving_day(session.get(Event, later_id).ends_on)
    assert rules.leaving_day(person) == day
    said = format_date(day, "long", locale="fr")

    client = login_as(person.username)
    page = client.get("/account/delete/").get_data(as_text=True)
    assert said in page and "leave-form" not in page
    assert "Supprimer mon compte" in client.get("/").get_data(as_text=True)  # in the user menu
    response = client.post("/account/delete/", data={"password": DEMO_PASSWORD})
    assert response.status_code == 200 and f"à partir du {said}" in response.get_data(as_text=True)
    session.expire_all()
    kept = session.get(User, person.id)
    assert (kept.username, kept.first_name, kept.active) == (person.username, "Margot", True)
    assert client.get("/events/places").status_code == 200  # still signed in

    with _travel_to(day - timedelta(days=1)):
        assert "leave-form" not in login_as(person.username).get("/account/delete/").get_data(as_text=True)


def test_accounts_of_a_school_and_staff_accounts_are_told_why_not(app, session, login_as):
    from app.models import School

    student = _person(school=session.scalars(select(School).order_by(School.id)).first())
    for login, said in ((student.username, "Seuls les comptes extérieurs"), ("eventadmin", "administrateur")):
        page = login_as(login).get("/account/delete/").get_data(as_text=True)
        assert said in page and "leave-form" not in page
    assert login_as(student.username).post("/account/delete/", data={"password": DEMO_PASSWORD}).status_code == 200
    session.expire_all()
    assert session.get(User, student.id).active


def test_without_any_place_an_external_account_may_leave_at_once(app, session, login_as):
    person = _person()
    page = login_as(person.username).get("/account/delete/").get_data(as_text=True)
    assert "leave-form" in page and "Anonyme" in page


def test_thirty_days_after_its_last_event_the_account_is_erased_and_its_places_and_payments_stay(
        app, session, clock, login_as, fake):
    person = _person()
    login, tag, email = person.username, person.last_name, person.email
    event_id, ticket_type_id = _sale(_in_days(9), price="20", limit=1, paypal=True, item=True)
    own, guest = _book(person, event_id, ticket_type_id, guest=(f"Jules {tag}", f"jules.{tag}@example.org"))
    diet, scan = session.get(TicketType, ticket_type_id).extra_infos
    for place_id in (own, guest):
        place = session.get(Reservation, place_id)
        for given in (rules.answer(person, place, diet, "Végétarien"),
                      rules.answer(person, place, scan, upload=upload("identite.png"))):
            rules.validate_answer(user("eventadmin"), given)
    session.commit()
    uploaded = {files.absolute_path(stored) for stored in session.scalars(select(StoredFile).where(
        StoredFile.owner_type == Reservation.__tablename__, StoredFile.owner_id.in_([own, guest])))}
    assert len(uploaded) == 2 and uploaded <= set(stored_paths())
    _pay_online(app, fake, own)
    rules.RESERVATION_WORKFLOW.fire(session.get(Reservation, guest), "mark_paid", user("eventadmin"))
    session.commit()
    session.expire_all()
    paid = [(p.id, p.state) for p in session.scalars(select(Payment).where(
        Payment.payable_type == rules.PAYABLE_KIND, Payment.payable_id == own))]
    assert [state for _, state in paid] == [PaymentState.confirmed]

    with _travel_to(_leaving_day(session.get(Event, event_id).ends_on)):
        bearer = BearerClient(app, login)
        assert bearer.get("/api/v1/reservation/").status_code == 200
        client = login_as(login)
        assert "leave-form" in client.get("/account/delete/").get_data(as_text=True)
        wrong = client.post("/account/delete/", data={"password": "not-mine"})
        assert wrong.status_code == 200 and "pas votre mot de passe" in wrong.get_data(as_text=True)
        response = client.post("/account/delete/", data={"password": DEMO_PASSWORD})
        assert response.status_code == 302 and "/login/" in response.location

        session.expire_all()
        erased = session.get(User, person.id)
        assert (erased.first_name, erased.last_name, erased.active) == ("Anonyme", "", False)
        assert erased.get_full_name() == "Anonyme"
        assert tag not in erased.username + erased.email and login != erased.username
        assert session.get(PersonProfile, person.id) is None
        places = {place.id: place for place in session.scalars(select(Reservation).where(
            Reservation.id.in_([own, guest])))}
        assert places[own].holder_id == person.id and places[guest].sponsor_id == person.id
        assert all(place.state is ReservationState.reserved for place in places.values())
        assert (places[guest].guest_name, places[guest].guest_email) == ("Anonyme", None)
        answers = session.scalars(select(ExtraInfoAnswer).where(ExtraInfoAnswer.reservation_id.in_([own, guest])))
        assert [(a.value, a.file_id, a.validated) for a in answers] == [(None, None, True)] * 4
        assert not uploaded & set(stored_paths())  # the identity scans are deleted from the disk
        assert [(p.id, p.state) for p in session.scalars(select(Payment).where(
            Payment.payable_type == rules.PAYABLE_KIND, Payment.payable_id == own))] == paid
        assert session.scalars(select(WorkflowEvent.transition).where(
            WorkflowEvent.object_type == "ab_user", WorkflowEvent.object_id == person.id)).all() == ["erased"]

        # Signed out, and never again: the session, the old password, the token.
        assert client.get("/events/places").status_code == 302
        again = app.test_client().post("/login/", data={"username": login, "password": DEMO_PASSWORD})
        assert "/login/" in again.location
        assert bearer.get("/api/v1/reservation/").status_code == 401
        assert app.test_client().post("/api/v1/security/login", json={
            "username": login, "password": DEMO_PASSWORD, "provider": "db"}).status_code == 401

    # The organisers' grid and its CSV export show "Anonyme", and nothing of her (in an
    # app context of their own, as real requests have: the test's holds her feed in `g`).
    with app.app_context():
        organiser = login_as("eventadmin")
        grid = organiser.get(f"/reservations/list/?_flt_0_event={event_id}").get_data(as_text=True)
        assert "Anonyme" in grid and tag not in grid
        response = organiser.get(f"/reservations/export/csv?_flt_0_event={event_id}")
        text = response.get_data(as_text=True)
        rows = _csv(response)
        holder, sponsor = rows[0].index("Titulaire"), rows[0].index("Parrain")
        by_id = {row[0]: row for row in rows[1:]}
        assert by_id[str(own)][holder] == "Anonyme" and by_id[str(guest)][sponsor] == "Anonyme"
        assert tag not in text and email not in text and "Margot" not in text


# ---------------------------------------------------------------------------
# The "place paid" mail
# ---------------------------------------------------------------------------


def _mails_to(mailbox, address):
    return [message for recipients, message in mailbox.messages if address in recipients]


def test_the_payer_is_mailed_the_way_to_the_ticket_when_paid_online_or_by_an_organiser(
        app, session, clock, login_as, fake, mailbox):
    person = _person()
    event_id, ticket_type_id = _sale(_in_days(9), price="20", limit=1, paypal=True)
    own, guest = _book(person, event_id, ticket_type_id, guest=("Jules Martin", "jules.martin@example.org"))
    name = session.get(Event, event_id).name
    _pay_online(app, fake, own)
    [online] = [m for m in _mails_to(mailbox, person.email) if m["Subject"].strip() == f"Place payée : {name}"]
    body = online.get_body(("plain",)).get_content()
    assert "http://localhost/events/places" in body and "Margot" in body and "est payée" in body

    response = login_as("eventadmin").post(f"/reservations/transition/{guest}/mark_paid")
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Reservation, guest).state is ReservationState.reserved
    paid = [m for m in _mails_to(mailbox, person.email) if m["Subject"].strip() == f"Place payée : {name}"]
    assert len(paid) == 2 and "Jules Martin" in paid[1].get_body(("plain",)).get_content()
    assert not _mails_to(mailbox, "jules.martin@example.org")  # the payer is told, not the guest


# ---------------------------------------------------------------------------
# The reminder, the day before
# ---------------------------------------------------------------------------


def test_the_reminder_job_mails_each_reserved_place_once_and_none_for_cancelled_events_or_opposed_places(
        app, session, clock, mailbox):
    tomorrow_id, free_type = _sale(_in_days(1))
    paid_type = rules.save_ticket_type(user("eventadmin"), session.get(Event, tomorrow_id), name="Dîner",
                                       kind="open", price="15", capacity=10).id
    session.get(Event, tomorrow_id).sponsorship_limit = 1
    session.commit()
    cancelled_id, cancelled_type = _sale(_in_days(1, time(21)))
    later_id, later_type = _sale(_in_days(3))
    alice, bruno, chloe, denis, emma, farid, gina = (_person() for _ in range(7))
    _book(alice, tomorrow_id, free_type)
    _book(bruno, tomorrow_id, free_type)
    _book(chloe, tomorrow_id, free_type, guest=("Jules Martin", "jules.reminded@example.org"))
    _book(denis, tomorrow_id, paid_type)  # pre-reserved: not paid
    [opposed] = _book(emma, tomorrow_id, free_type)
    rules.RESERVATION_WORKFLOW.fire(session.get(Reservation, opposed), "oppose", user("eventadmin"), "Fraude")
    _book(farid, cancelled_id, cancelled_type)
    rules.cancel_event(user("eventadmin"), session.get(Event, cancelled_id))
    _book(gina, later_id, later_type)
    session.commit()
    mailbox.messages.clear()

    sent = rules.send_reminders()
    reminded = {address for recipients, message in mailbox.messages if message["Subject"].strip().startswith("Rappel")
                for address in recipients}
    everyone = {p.email for p in (alice, bruno, chloe, denis, emma, farid, gina)} | {"jules.reminded@example.org"}
    assert reminded & everyone == {alice.email, bruno.email, chloe.email, "jules.reminded@example.org"}
    assert sent >= 4
    [to_chloe] = _mails_to(mailbox, chloe.email)
    body = to_chloe.get_body(("plain",)).get_content()
    assert "Jules Martin" in body and "Margot" in body and "http://localhost/events/places" in body
    [to_guest] = _mails_to(mailbox, "jules.reminded@example.org")
    assert "events/places" not in to_guest.get_body(("plain",)).get_content()
    for person in (alice, bruno):
        assert len(_mails_to(mailbox, person.email)) == 1

    mailbox.messages.clear()
    rules.send_reminders()
    assert not [address for recipients, _ in mailbox.messages for address in recipients if address in everyone]
    assert session.query(OutboxMail).filter(OutboxMail.template == "events/reminder",
                                            OutboxMail.recipient.in_(everyone)).count() == 4


def test_the_reminders_are_a_periodic_job_declared_by_the_desk():
    from redis import Redis
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=Redis())  # loading sends no command
    scheduler.load_config_from_file("app.platform.schedule")
    declared = {job.func_name: job for job in scheduler.get_jobs()}
    assert declared["app.rules.events.send_reminders"].cron == "0 10 * * *"
