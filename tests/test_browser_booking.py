"""In a real browser, desk A's main tasks as each of its roles sees them:

* `creator` books a session through the four-step wizard, then `vnoc` validates it
  from the queue with its connection details;
* `creator` opens the free/busy grid, picks a free slot (the wizard opens on it),
  books a weekly series one date of which is taken: the review lists that date, the
  booker skips it and confirms, the reference is shown; then cancels one session of
  the series after confirming;
* `vnoc` refuses a request from its queue with a reason and stays in the queue.

Screenshots of the free/busy grid (day and week), the participants, the review with a
conflict and the report with its chart are saved under SCREENSHOTS (default /tmp/shots-deska/) at
1280 and 390 px wide."""
import os
from datetime import time, timedelta

from app.extensions import db
from app.models import Booking, Room
from app.rules import booking as rules
from app.rules.booking import BookingDraft

from .helpers import local_now, user

SCREENSHOTS = os.environ.get("SCREENSHOTS", "/tmp/shots-deska")
RECTORAT = "Rectorat de l'académie de Lyon"


def _shoot(page, name):
    """Screenshots of the page at 1280 and 390 px wide; at 390 px the page itself must
    not scroll sideways (a grid scrolls inside its own container)."""
    os.makedirs(SCREENSHOTS, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}-{width}.png"), full_page=True)
        if width == 390:
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 1, f"{name}: the page scrolls {overflow}px sideways at 390 px"
    page.set_viewport_size({"width": 1366, "height": 900})


def _wednesday(weeks):
    day = local_now().date() + timedelta(weeks=weeks)
    return day - timedelta(days=day.weekday()) + timedelta(days=2)


def test_creator_books_through_the_wizard_and_vnoc_validates(browser_login, live_url):
    # The real clock: the live server is another process, which time-machine cannot
    # stop; half a year ahead, the slot is bookable whatever the time of day.
    day = _wednesday(26)

    page = browser_login("creator")
    page.goto(f"{live_url}/booking-wizard/")
    page.check("input[name=room] >> nth=0")
    page.click("button[value=next]")
    page.fill("input[name=p-0-name]", "Salle des actes — Nantes")
    page.select_option("select[name=p-0-kind]", "ip")
    page.fill("input[name=p-0-ip_address]", "10.44.0.9")
    page.select_option("select[name=p-0-vnoc_connects]", "yes")
    page.fill("input[name=p-0-email]", "actes@partenaire.example")
    page.click("#add-participant")
    page.fill("input[name=p-1-name]", "Portable du recteur")
    page.select_option("select[name=p-1-kind]", "mobile")
    _shoot(page, "participants")  # on a phone each equipment is a block: no sideways scroll
    page.click("button[value=next]")
    page.fill("#session_name", "Conférence des chefs d'établissement")
    page.fill("#organiser_phone", "04 72 80 60 10")
    page.fill("#day", day.isoformat())
    page.select_option("#start_time", "10:00")
    page.select_option("#end_time", "11:30")
    page.click("button[value=next]")
    page.wait_for_selector(".booking-review")
    assert page.locator("text=Conférence des chefs d'établissement").count() >= 1
    assert page.locator(".booking-review >> text=Portable du recteur — Nomade").count() == 1  # types read as labels
    page.click("button[value=confirm]")
    page.wait_for_selector(".booking-reference")
    reference = page.locator(".booking-reference").inner_text()
    assert reference.isdigit() and len(reference) >= 5
    page.click("text=Voir la réservation")
    page.wait_for_url("**/bookings/show/**")
    show_url = page.url
    assert "/bookings/show/" in show_url
    assert page.locator("text=En attente").count() >= 1

    vnoc = browser_login("vnoc")
    vnoc.goto(f"{live_url}/bookings/queue/")
    row = vnoc.locator("tr", has_text=reference)
    assert row.locator(".time-left").inner_text().strip().endswith("min")
    row.locator("input[name=connection_id]").fill("701564")
    row.locator("button.btn-success").click()
    vnoc.wait_for_selector(".alert-success")
    assert vnoc.locator("text=Réservation %s validée." % reference).count() == 1
    vnoc.goto(show_url)
    assert vnoc.locator("text=Validée").count() >= 1
    assert vnoc.locator("text=701564").count() >= 1


def test_a_booker_books_a_series_from_the_free_busy_grid_skipping_a_taken_date(app, browser_login, live_url):
    first = _wednesday(28)
    taken_day = first + timedelta(weeks=1)
    with app.test_request_context():
        room = db.session.query(Room).filter(Room.organisation.has(name=RECTORAT)).order_by(Room.id).first()
        room_id, room_name = room.id, room.name
        # The second Wednesday is already held in that room, 10:30–11:30; the grid's
        # day has a pending and a validated session beside the free slots.
        held = BookingDraft(room_ids=[room_id], session_name="Comité déjà prévu", organiser_name="Hélène Brun",
                            organiser_email="helene.brun@ac-lyon.example", organiser_phone="04 72 80 60 00",
                            day=taken_day, start_time=time(10, 30), end_time=time(11, 30))
        taken = rules.create_booking(held, user("creator"), [room])
        rules.BOOKING_WORKFLOW.fire(taken, "validate", user("vnoc"))
        for start, end, validate in ((time(8, 30), time(9, 30), True), (time(14, 0), time(15, 30), False)):
            other = rules.create_booking(BookingDraft(**{**held.__dict__, "day": first, "start_time": start,
                                                         "end_time": end, "session_name": "Point d'équipe"}),
                                         user("creator"), [room])
            if validate:
                rules.BOOKING_WORKFLOW.fire(other, "validate", user("vnoc"))
        db.session.commit()
        taken_reference = taken.reference

    page = browser_login("creator")
    page.goto(f"{live_url}/rooms/freebusy/?day={first.isoformat()}")
    grid_row = page.locator(f"tr[data-room='{room_id}']")
    assert grid_row.locator(".freebusy-pending, .freebusy-validated").count() >= 2
    assert grid_row.locator(".freebusy-buffer").count() >= 2
    _shoot(page, "freebusy-day")
    page.goto(f"{live_url}/rooms/freebusy/?view=week&day={taken_day.isoformat()}")
    assert page.locator("table.freebusy").count() == 5
    assert page.locator(f"text={taken_reference} · Validée").count() == 1
    _shoot(page, "freebusy-week")

    # A free slot at 10:00 opens the wizard on that room, day and hour (keyboard: a link).
    page.goto(f"{live_url}/rooms/freebusy/?day={first.isoformat()}")
    slot = grid_row.locator(f"a[href*='start=10%3A00'], a[href*='start=10:00']").first
    slot.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/booking-wizard/**")
    assert page.locator(f"input[name=room][value='{room_id}']").is_checked()
    page.click("button[value=next]")
    page.click("button[value=next]")
    assert page.input_value("#day") == first.isoformat()
    assert page.input_value("#start_time") == "10:00" and page.input_value("#end_time") == "11:00"
    page.fill("#session_name", "Réunion des IEN")
    page.fill("#organiser_phone", "04 72 80 60 10")
    page.fill("#creator_phone", "04 72 80 61 99")
    page.select_option("#recurrence", "weekly")
    page.fill("#recurrence_count", "3")
    page.click("button[value=next]")

    # The review lists the taken date with why, what to do; the rest is kept.
    page.wait_for_selector(".booking-conflicts")
    conflict = page.locator(".booking-conflict")
    assert conflict.count() == 1
    text = conflict.inner_text()
    assert room_name in text and taken_reference in text and "Comité déjà prévu" in text
    assert conflict.locator(".booking-suggestion").count() >= 1
    assert page.locator("button[value=confirm]").count() == 0
    _shoot(page, "review-conflict")
    conflict.locator("button.booking-skip").click()
    page.wait_for_selector(".booking-skipped")
    assert page.locator(".booking-conflict").count() == 0
    assert page.locator(".booking-sessions li:not(.booking-skipped)").count() == 2
    page.click("button[value=confirm]")
    page.wait_for_selector(".booking-reference")
    reference = page.locator(".booking-reference").inner_text()
    assert reference.isdigit()

    # Cancel one session of the series: the page asks first.
    page.click("text=Voir la réservation")
    page.wait_for_url("**/bookings/show/**")
    assert page.locator(".booking-skipped").count() == 1
    page.locator(".booking-occurrence >> text=Annuler cette séance").last.click()
    page.wait_for_url("**/bookings/cancel/**")
    assert page.locator("input[name=what][value=all]").count() == 1
    page.fill("#cancel-comment", "Jour de grève")
    page.click("text=Confirmer l'annulation")
    page.wait_for_url("**/bookings/show/**")
    assert page.locator(".alert-success").count() == 1
    assert page.locator(".booking-occurrence .label", has_text="annulée").count() == 1
    assert page.locator(".guichet-history >> text=Séance annulée").count() == 1
    with app.app_context():
        booking = db.session.query(Booking).filter_by(reference=reference).one()
        assert sorted(o.start_at.date() for o in booking.occurrences if o.active) == [first]


def test_the_vnoc_refuses_with_a_reason_and_stays_in_its_queue(app, browser_login, live_url):
    with app.test_request_context():
        room = db.session.query(Room).filter(Room.organisation.has(name=RECTORAT)).order_by(Room.id).first()
        request = BookingDraft(room_ids=[room.id], session_name="Demande à refuser", organiser_name="Hélène Brun",
                               organiser_email="helene.brun@ac-lyon.example", organiser_phone="04 72 80 60 00",
                               creator_phone="04 72 80 61 23", day=_wednesday(30), start_time=time(16, 0),
                               end_time=time(17, 0))
        refused = rules.create_booking(request, user("creator"), [room])
        db.session.commit()
        reference = refused.reference

    vnoc = browser_login("vnoc")
    vnoc.goto(f"{live_url}/bookings/queue/")
    row = vnoc.locator("tr", has_text=reference)
    assert row.locator("a[href='tel:0472806123']").inner_text().strip() == "04 72 80 61 23"
    row.locator("input[name=comment]").fill("Salle en travaux : le demandeur a été appelé.")
    row.locator("button.btn-danger").click()
    vnoc.wait_for_selector(".alert-success")
    assert vnoc.url.endswith("/bookings/queue/")
    assert vnoc.locator("h2", has_text="File du VNOC").count() == 1
    assert vnoc.locator("tr", has_text=reference).count() == 0


def test_the_usage_report_draws_its_chart(app, browser_login, live_url):
    page = browser_login("vnoc")
    page.goto(f"{live_url}/bookings/report/")
    page.wait_for_selector("#report-chart")
    page.wait_for_function("document.getElementById('report-chart').width > 0")
    assert page.evaluate("typeof Chart") == "function"
    assert page.locator(".booking-hours").first.inner_text().count(":") == 1
    _shoot(page, "report")
