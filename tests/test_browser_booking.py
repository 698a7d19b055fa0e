"""In a real browser: `creator` books a session through the four-step wizard,
then `vnoc` validates it from the queue with its connection details."""
from datetime import timedelta

from .helpers import local_now


def test_creator_books_through_the_wizard_and_vnoc_validates(browser_login, live_url):
    # The real clock: the live server is another process, which time-machine cannot
    # stop; half a year ahead, the slot is bookable whatever the time of day.
    today = local_now().date()
    day = today + timedelta(weeks=26)
    day = day - timedelta(days=day.weekday()) + timedelta(days=2)  # a Wednesday

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
    page.click("button[value=next]")
    page.fill("#session_name", "Conférence des chefs d'établissement")
    page.fill("#organiser_phone", "04 72 80 60 10")
    page.fill("#day", day.isoformat())
    page.select_option("#start_time", "10:00")
    page.select_option("#end_time", "11:30")
    page.click("button[value=next]")
    page.wait_for_selector(".booking-review")
    assert page.locator("text=Conférence des chefs d'établissement").count() >= 1
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
