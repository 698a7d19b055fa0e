"""Every desk's main pages in a real browser, under the app's Content-Security-Policy:
no violation (browser_login fails the test on any), and the widgets still work — the
calendar shows its sessions, the wizard's steps advance, filters are added, select2
and the date pickers open, bulk actions are offered."""
import re

from playwright.sync_api import expect


def visit(page, url):
    response = page.goto(url)
    assert response.status == 200, f"{url}: {response.status}"
    page.wait_for_load_state("load")
    return page


def add_filter(page, name=None):
    """Open the grid's search panel and add a filter (the first offered, or `name`'s)."""
    page.click("a.accordion-toggle[href='#accordion1_href']")
    page.click("#filter_form button.dropdown-toggle")
    page.click(f"#filter_form a.filter[name={name}]" if name else "#filter_form a.filter >> nth=0")
    expect(page.locator("#filter_form table.filters tr")).to_have_count(1)


def test_the_booking_desk_works_under_the_csp(browser_login, live_url):
    page = browser_login("creator")
    visit(page, f"{live_url}/booking-wizard/")
    calendar = page.locator("a[href*='/rooms/calendar/']").first.get_attribute("href")
    page.check("input[name=room] >> nth=0")
    page.click("button[value=next]")
    # Step 2: saved equipment is looked up as one types; lines are added.
    page.fill("input[name=p-0-name]", "DSDEN")
    expect(page.locator("#equipment-options option")).to_have_count(1)
    page.fill("input[name=p-0-name]", "DSDEN du Rhône — salle 204")
    expect(page.locator("input[name=p-0-ip_address]")).to_have_value("10.69.4.21")
    page.click("#add-participant")
    expect(page.locator("tr.participant-row")).to_have_count(2)
    page.click("button[value=next]")
    expect(page.locator("#session_name")).to_be_visible()  # step 3

    # The room's calendar (FullCalendar) shows this week's sessions.
    visit(page, live_url + calendar)
    expect(page.locator("#room-calendar .fc-event").first).to_be_visible()
    page.click(".fc-dayGridMonth-button")
    expect(page.locator("#room-calendar .fc-daygrid-event").first).to_be_visible()

    # The grid: a filter is added from the menu, rows can be picked for an action.
    visit(page, f"{live_url}/bookings/list/")
    add_filter(page)
    visit(page, f"{live_url}/bookings/report/")
    expect(page.locator("table.booking-report")).to_be_visible()
    visit(page, f"{live_url}/bookings/list/")
    page.locator("a[href*='/bookings/show/']").first.click()
    page.wait_for_url(re.compile(r"/bookings/show/\d+"))

    vnoc = browser_login("vnoc")
    for path in ("/bookings/queue/", "/bookings/connections/", "/rooms/list/", "/equipment/list/"):
        visit(vnoc, live_url + path)


def test_the_grids_forms_and_charts_of_the_administration_work_under_the_csp(browser_login, live_url):
    admin = browser_login("admin")
    # A grid's bulk action, confirmed in FAB's dialog, runs on the picked row.
    visit(admin, f"{live_url}/outbox/list/")
    admin.locator("input.action_check").first.check()
    admin.click("button.dropdown-toggle:has-text('Actions')")
    admin.click(".resend_menu_item")
    expect(admin.locator("#modal-confirm")).to_be_visible()
    with admin.expect_navigation():
        admin.click("#modal-confirm-ok")
    expect(admin.locator(".alert-success")).to_contain_text("1 courriel remis en file")
    # A date filter opens its date picker.
    visit(admin, f"{live_url}/notifications/list/")
    add_filter(admin, "created_on")
    admin.locator("#filter_form table.filters input.form-control").last.click()
    expect(admin.locator(".datepicker, .bootstrap-datetimepicker-widget").first).to_be_visible()
    # An add form: its relation fields are select2 boxes that open and search.
    visit(admin, f"{live_url}/memberships/add")
    admin.locator(".select2-selection").nth(1).click()  # the organisation
    admin.keyboard.type("Lycée")
    expect(admin.locator(".select2-results__option", has_text="Lycée Victor Hugo").first).to_be_visible()
    # The user statistics: a chart drawn from the app's own files, one bar per account.
    for definition in ("0", "1"):  # login counts, failed login counts
        visit(admin, f"{live_url}/userstatschartview/chart/{definition}")
        drawn = admin.evaluate("""() => {
            const chart = Chart.getChart(document.querySelector("canvas[data-chart]"));
            return chart && {labels: chart.data.labels, bars: chart.getDatasetMeta(0).data.length};
        }""")
        assert "admin" in drawn["labels"] and drawn["bars"] == len(drawn["labels"])
    for path in ("/users/list/", "/roles/list/", "/organisations/list/", "/delegations/list/",
                 "/delegations/add", "/organisations/add", "/swagger/v1"):
        visit(admin, live_url + path)


def test_the_tickets_and_help_desks_work_under_the_csp(browser_login, live_url):
    client = browser_login("client")
    visit(client, f"{live_url}/extranet/")
    client.click("text=Billetterie Festival 2026")
    client.wait_for_url(re.compile(r"/extranet/project/\d+"))
    client.locator("a[href*='/extranet/ticket/']").first.click()
    client.wait_for_url(re.compile(r"/extranet/ticket/[A-Z0-9]{7}$"))
    visit(client, f"{live_url}/extranet/new")
    visit(client, f"{live_url}/extranet/tickets")

    lead = browser_login("lead")
    for path in ("/tickets/list/", "/projects/list/"):
        visit(lead, live_url + path)

    teacher = browser_login("teacher")
    visit(teacher, f"{live_url}/helprequests/new")
    visit(teacher, f"{live_url}/helprequests/list/")
    teacher.locator("a[href*='/helprequests/show/']").first.click()
    teacher.wait_for_url(re.compile(r"/helprequests/show/\d+"))
    visit(teacher, f"{live_url}/notifications/list/")

    referent = browser_login("referent")
    visit(referent, f"{live_url}/helprequests/list/")
    add_filter(referent)
    for path in ("/entapplications/list/", "/entestablishments/list/"):
        visit(referent, live_url + path)


def test_the_navbar_opens_a_notification_and_signs_out_with_posts(app, browser_login, live_url):
    from app.extensions import db
    from app.platform import notifications

    from .helpers import user

    with app.test_request_context():
        notifications.notify([user("creator2")], "notification", {"title": "Audioconf UGA libérée", "message": "…"},
                             link="/rooms/list/", mail=False)
        db.session.commit()
    page = browser_login("creator2")
    visit(page, f"{live_url}/bookings/list/")
    page.click(".guichet-feed > a.dropdown-toggle")
    with page.expect_navigation():
        page.click(".guichet-feed-open button:has-text('Audioconf UGA libérée')")
    assert page.url.endswith("/rooms/list/")
    assert page.locator(".guichet-unread").count() == 0 or "Audioconf UGA" not in page.inner_text(".guichet-feed")

    visit(page, f"{live_url}/logout/")  # a GET asks
    expect(page.locator(".guichet-logout-confirm")).to_be_visible()
    visit(page, f"{live_url}/bookings/list/")  # still signed in
    assert "/login" not in page.url
    page.click(".navbar-right .fa-user")
    with page.expect_navigation():
        page.click(".guichet-logout button")
    visit(page, f"{live_url}/bookings/list/")
    assert "/login" in page.url
