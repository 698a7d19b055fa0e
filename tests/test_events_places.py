"""Desk D, the organisers' places: a place given to a named person (refusals naming
their field, never oversold), the places grid's bulk actions (each row on its own,
the skipped ones named with their reason, opposition asking its reason once), and
the counts per ticket with their chart on the event page."""
import html
import os
import re
import uuid
from datetime import timedelta

import pytest

from app.extensions import db
from app.models import (
    Association,
    Event,
    EventVisibility,
    OutboxMail,
    Reservation,
    ReservationState,
    TicketType,
    WorkflowEvent,
    utcnow,
)
from app.platform.refusals import Refused
from app.rules import events as rules

from .helpers import user

BDE = "Bureau des élèves de Centrale Lyon"


def new_event(creator="eventadmin", capacity=10, price="0", visibility=EventVisibility.public, on_sale=True,
              limit=0, **ticket):
    """A new event of the BDE (on sale now, or its sale closed), with one ticket type; committed."""
    now = utcnow()
    association = db.session.query(Association).join(Association.organisation).filter_by(name=BDE).one()
    opens, closes = (now - timedelta(hours=1), now + timedelta(days=8)) if on_sale else \
        (now - timedelta(days=3), now - timedelta(days=1))
    tag = uuid.uuid4().hex[:8]  # its ticket's name too: private events' names stay apart from public ones'
    event = rules.create_event(user(creator), association, name=f"Soirée {tag}",
                               starts_on=now + timedelta(days=9), ends_on=now + timedelta(days=9, hours=4),
                               sale_opens_on=opens, sale_closes_on=closes, visibility=visibility,
                               sponsorship_limit=limit)
    ticket_type = rules.save_ticket_type(user(creator), event, name=f"Place {tag}", kind=ticket.pop("kind", "open"),
                                         price=price, capacity=capacity, **ticket)
    db.session.commit()
    return event.id, ticket_type.id


def snapshot(event_id):
    db.session.expire_all()
    return (sorted((r.id, r.holder_id, r.state.value) for r in db.session.query(Reservation).filter_by(
        event_id=event_id)), [(t.id, t.taken) for t in db.session.query(TicketType).filter_by(event_id=event_id)])


def _given_mails(username):
    return db.session.query(OutboxMail).filter(OutboxMail.template == "events/given",
                                               OutboxMail.recipient == user(username).email).count()


def test_a_given_place_skips_restrictions_and_the_sale_window_is_recorded_and_mailed(session):
    event_id, ticket_type_id = new_event(price="12", kind="restricted", promotions=[2030], on_sale=False)
    event = session.get(Event, event_id)
    assert rules.why_not(user("externe"), event.ticket_types[0])  # neither on sale nor for her
    mails = _given_mails("externe")
    place = rules.give_place(user("eventadmin"), event, ticket_type_id, "EXTERNE")
    session.commit()
    assert (place.holder.username, place.state, str(place.price)) == ("externe", ReservationState.prereserved,
                                                                       "12.00")
    assert session.get(TicketType, ticket_type_id).taken == 1
    [given] = session.query(WorkflowEvent).filter_by(object_type="event_reservation", object_id=place.id).all()
    assert (given.transition, given.actor.username) == ("give", "eventadmin")
    assert rules.RESERVATION_WORKFLOW.event_label(given) == "Place donnée"
    assert _given_mails("externe") == mails + 1
    mail = session.query(OutboxMail).filter_by(template="events/given").order_by(OutboxMail.id.desc()).first()
    assert "Hugo Perrin" in mail.body and event.name in mail.body


def test_a_free_given_place_found_by_mail_is_reserved(session):
    event_id, ticket_type_id = new_event(price="0")
    place = rules.give_place(user("eventadmin"), session.get(Event, event_id), ticket_type_id,
                             user("etudiant2").email.upper())
    session.commit()
    assert place.holder.username == "etudiant2" and place.state is ReservationState.reserved


@pytest.mark.parametrize("case, field", [
    ("unknown person", "person"), ("holds a place", "person"), ("ticket of another event", "ticket_type"),
    ("bad option", "options"), ("full", "ticket_type"), ("cancelled", "event"), ("check-in level only", None),
    ("no level", None), ("hidden event", "event"),
])
def test_give_place_refusals_name_their_field_and_change_nothing(session, case, field):
    event_id, ticket_type_id = new_event(capacity=1 if case == "full" else 5, visibility=EventVisibility.private
                                         if case == "hidden event" else EventVisibility.public)
    other_event, other_type = new_event()
    event = session.get(Event, event_id)
    if case == "check-in level only":
        rules.grant_level(user("eventadmin"), event, "checkin", user=user("checker"))
    if case == "holds a place":
        rules.book(user("etudiant"), event, ticket_type_id)
    if case == "full":
        rules.give_place(user("eventadmin"), event, ticket_type_id, "etudiant2")
    if case == "cancelled":
        rules.cancel_event(user("eventadmin"), event)
    session.commit()
    before = snapshot(event_id)
    giver = {"check-in level only": "checker", "no level": "etudiant2", "hidden event": "clubadmin"}.get(
        case, "eventadmin")
    arguments = {"ticket_type_id": other_type if case == "ticket of another event" else ticket_type_id,
                 "person": "personne-inconnue" if case == "unknown person" else "etudiant",
                 "option_ids": [987654] if case == "bad option" else ()}
    with pytest.raises(Refused) as refusal:
        rules.give_place(user(giver), session.get(Event, event_id), **arguments)
    session.rollback()
    assert refusal.value.field == field, refusal.value.message
    assert snapshot(event_id) == before


def test_two_gives_on_the_last_place_give_one(session):
    event_id, ticket_type_id = new_event(capacity=1)
    rules.give_place(user("eventadmin"), session.get(Event, event_id), ticket_type_id, "etudiant")
    session.commit()
    with pytest.raises(Refused) as refusal:
        rules.give_place(user("eventadmin"), session.get(Event, event_id), ticket_type_id, "etudiant2")
    session.rollback()
    assert refusal.value.field == "ticket_type" and "complet" in refusal.value.message
    reservations, counters = snapshot(event_id)
    assert len(reservations) == 1 and counters == [(ticket_type_id, 1)]


def _flashes(page):
    pattern = r'class="alert alert-(?:danger|success|info)[^"]*"[^>]*>(.*?)</div>'
    return [html.unescape(text) for text in re.findall(pattern, page, re.S)]


def test_the_give_page_shows_a_refusal_on_its_field_then_gives(app, login_as):
    with app.app_context():
        event_id, ticket_type_id = new_event(price="7")
    organiser = login_as("eventadmin")
    event_page = organiser.get(f"/events/show/{event_id}").get_data(as_text=True)
    assert f'href="/reservations/give/{event_id}"' in event_page
    assert f'href="/reservations/give/{event_id}"' not in login_as("etudiant").get(
        f"/events/show/{event_id}").get_data(as_text=True)
    form = organiser.get(f"/reservations/give/{event_id}").get_data(as_text=True)
    assert '<label for="give-person">' in form and f'value="{ticket_type_id}"' in form
    page = organiser.post(f"/reservations/give/{event_id}", data={"person": "personne-inconnue",
                                                                  "ticket_type": ticket_type_id})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="give-person-error"' in html and 'aria-invalid="true"' in html
    assert 'value="personne-inconnue"' in html  # what was typed stays
    with app.app_context():
        assert snapshot(event_id)[0] == []
    response = organiser.post(f"/reservations/give/{event_id}", data={"person": "etudiant2",
                                                                      "ticket_type": ticket_type_id})
    assert response.status_code == 302 and "/reservations/show/" in response.headers["Location"]
    place = organiser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Place donnée" in place and "Paul Robert" in place
    assert f'href="/reservations/give/{event_id}"' in place  # the next one, from the place's page


def test_the_event_page_charts_the_counts_with_the_table_as_its_text(app, login_as):
    with app.app_context():
        event_id, ticket_type_id = new_event(capacity=4, price="5")
        rules.book(user("etudiant"), db.session.get(Event, event_id), ticket_type_id)
        db.session.commit()
    page = login_as("eventadmin").get(f"/events/show/{event_id}").get_data(as_text=True)
    canvas = re.search(r'<canvas id="counts-chart"[^>]*>', page).group(0)
    assert 'role="img"' in canvas and "1 pré-réservée(s), 0 réservée(s) sur 4" in canvas
    assert "chart.min.js" in page and '<th scope="col">' in page
    assert 'id="counts-chart"' not in login_as("etudiant").get(f"/events/show/{event_id}").get_data(as_text=True)


def _places(count, price="5"):
    """An event with `count` places booked by demo students; their ids."""
    event_id, ticket_type_id = new_event(price=price)
    event = db.session.get(Event, event_id)
    ids = [rules.book(user(name), event, ticket_type_id)[0].id for name in ("etudiant", "etudiant2", "externe")[:count]]
    db.session.commit()
    return event_id, ids


def test_the_places_grid_filtered_by_event_lists_that_event_s_places(app, login_as):
    """The grid's relation filter sends the event's id as a text: PostgreSQL compares it as an id."""
    with app.app_context():
        event_id, ids = _places(2)
    organiser = login_as("eventadmin")
    page = organiser.get(f"/reservations/list/?_flt_0_event={event_id}").get_data(as_text=True)
    assert sorted(int(i) for i in re.findall(r'name="rowid" value="(\d+)"', page)) == ids
    for bogus in ("abc", str(2 ** 63)):  # refused by the grid's check of its filters, never a 500
        assert organiser.get(f"/reservations/list/?_flt_0_event={bogus}").status_code == 400


def test_bulk_mark_paid_names_the_rows_it_skipped_and_why(app, login_as):
    with app.app_context():
        event_id, (pending, paid) = _places(2)
        rules.RESERVATION_WORKFLOW.fire(db.session.get(Reservation, paid), "mark_paid", user("eventadmin"))
        db.session.commit()
        paid_label = str(db.session.get(Reservation, paid))
    page = login_as("eventadmin").post("/reservations/action_post", data={
        "action": "mark_paid", "rowid": [str(pending), str(paid)]}, follow_redirects=True).get_data(as_text=True)
    messages = " ".join(_flashes(page))
    assert "1 enregistrement traité" in messages
    assert paid_label in messages and "est impossible depuis l'état « Réservée »" in messages
    with app.app_context():
        assert db.session.get(Reservation, pending).state is ReservationState.reserved


def test_bulk_opposition_asks_its_reason_once_then_opposes_each_row(app, login_as):
    with app.app_context():
        event_id, ids = _places(2)
    organiser = login_as("eventadmin")
    page = organiser.post("/reservations/action_post", data={"action": "oppose", "rowid": [str(i) for i in ids]})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<label for="bulk-comment">' in html
    assert html.count('name="rowid"') == 2
    with app.app_context():
        assert [state for _, _, state in snapshot(event_id)[0]] == ["prereserved"] * 2
    empty = organiser.post("/reservations/action_post", data={"action": "oppose", "rowid": [str(i) for i in ids],
                                                              "comment": "  "}).get_data(as_text=True)
    assert "un commentaire est obligatoire" in empty and '<label for="bulk-comment">' in empty
    organiser.post("/reservations/action_post", data={"action": "oppose", "rowid": [str(i) for i in ids],
                                                      "comment": "Chèques sans provision"})
    with app.app_context():
        db.session.expire_all()
        places = [db.session.get(Reservation, i) for i in ids]
        assert {(p.state, p.opposition_reason) for p in places} == {(ReservationState.opposed,
                                                                     "Chèques sans provision")}
        assert snapshot(event_id)[1][0][1] == 0  # both places freed


def test_bulk_delete_removes_the_pre_reservations_and_names_the_reservations_kept(app, login_as):
    with app.app_context():
        event_id, (pending, paid) = _places(2)
        rules.RESERVATION_WORKFLOW.fire(db.session.get(Reservation, paid), "mark_paid", user("eventadmin"))
        db.session.commit()
        paid_label = str(db.session.get(Reservation, paid))
    page = login_as("eventadmin").post("/reservations/action_post", data={
        "action": "delete_prereservations", "rowid": [str(pending), str(paid)]},
        follow_redirects=True).get_data(as_text=True)
    messages = " ".join(_flashes(page))
    assert "1 pré-réservation supprimée" in messages and paid_label in messages
    with app.app_context():
        reservations, counters = snapshot(event_id)
        assert [r[0] for r in reservations] == [paid] and counters[0][1] == 1


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="other processes hear of a write through Redis")
def test_another_process_shows_the_places_of_an_event_made_a_moment_ago(app, live_url):
    """The live server (another process) has just read the organiser's events; this
    process then makes an event with a place: the server's next request shows it,
    without waiting for its kept answers (app.platform.recent) to age."""
    from .test_races import Visitor

    organiser = Visitor(live_url, "eventadmin")
    assert organiser.request("GET", "/reservations/list/")[0] == 200
    with app.app_context():
        event_id, (place,) = _places(1)
    status, _, text, _ = organiser.request("GET", f"/reservations/show/{place}")
    assert status == 200, "the place of the event made a moment ago is not found"
    status, _, text, _ = organiser.request("GET", f"/reservations/list/?_flt_0_event={event_id}")
    assert f'value="{place}"' in text


def test_in_a_browser_the_chart_is_drawn_the_give_page_and_the_bulk_reason_pass_axe(app, browser_login, live_url):
    from .test_browser_a11y import AXE_SOURCE_PATH, Audit

    with open(AXE_SOURCE_PATH, encoding="utf-8") as source:
        audit = Audit(live_url, source.read())
    with app.app_context():
        event_id, ids = _places(2)
    admin = browser_login("eventadmin")
    admin.on("dialog", lambda dialog: dialog.accept())
    admin.goto(f"{live_url}/events/show/{event_id}")
    assert admin.evaluate("() => !!Chart.getChart(document.getElementById('counts-chart'))")
    audit.check(admin, "eventadmin", "/events/show (counts and chart)")
    admin.click("#give-place")
    admin.fill("#give-person", "personne-inconnue")
    admin.click("#give-form button[type=submit]")
    admin.wait_for_load_state()
    assert admin.locator("#give-person[aria-invalid=true]").count() == 1
    audit.check(admin, "eventadmin", "/reservations/give (a refusal on its field)")
    admin.set_viewport_size({"width": 390, "height": 844})
    audit.check(admin, "eventadmin", "/reservations/give (phone)")
    assert admin.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    admin.set_viewport_size({"width": 1366, "height": 900})
    admin.fill("#give-person", "insa")
    admin.click("#give-form button[type=submit]")
    admin.wait_for_url("**/reservations/show/**")
    assert admin.locator("text=Place donnée").count() >= 1

    admin.goto(f"{live_url}/reservations/list/?_flt_0_event={event_id}")
    for place_id in ids:
        admin.check(f"input.action_check[value='{place_id}']")
    admin.click("button.dropdown-toggle:has-text('Actions')")
    admin.click("a:has-text('Mettre en opposition')")
    admin.wait_for_selector("#bulk-comment")
    audit.check(admin, "eventadmin", "/reservations/action_post (the reason asked)")
    admin.fill("#bulk-comment", "Inscriptions en double")
    admin.click(".guichet-bulk-comment button[type=submit]")
    admin.wait_for_load_state()
    assert "2 enregistrements traités" in admin.locator(".alert-success").first.inner_text()
    assert not audit.found, audit.found
    with app.app_context():
        db.session.expire_all()
        assert {db.session.get(Reservation, i).opposition_reason for i in ids} == {"Inscriptions en double"}
