"""Accessibility (RGAA 4 / WCAG 2.1 AA): axe-core finds no serious or critical
violation on the pages each role reaches — its home page and every entry of its
menu, the first row of each grid — nor on the pages people see signed out, nor in
the widgets once opened (select2, date picker, the room's calendar, grid menus) or
on a phone's screen.

axe-core comes from npm (package.json) and is injected by the test; the app never
serves it."""
import os
import re
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from config import BASE_DIR

AXE_SOURCE_PATH = os.path.join(BASE_DIR, "node_modules", "axe-core", "axe.min.js")
AXE_RUN = """() => axe.run(document, {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
    resultTypes: ['violations'],
}).then(results => results.violations
    .filter(rule => rule.impact === 'serious' || rule.impact === 'critical')
    .map(rule => ({id: rule.id, impact: rule.impact,
                   targets: rule.nodes.map(node => node.target.join(' '))})))"""

#: One demo account per role (app/security.py ROLE_NAMES; the demo in app/demo/*.py).
ACCOUNTS = ("admin", "creator", "vnoc", "client", "lead", "agent", "referent", "desk", "user",
            "eventadmin", "opadmin", "opuser", "opsav", "ops")
SIGNED_OUT_PAGES = ("/login/", "/password/forgot/")
CONFIGURATION_TABS = ("information", "tickets", "options", "groups", "items", "admins")
# The entries of the navbar's drop-down menus (the language menu switches, it opens nothing).
MENU_LINKS = """() => [...document.querySelectorAll(
    '.navbar .dropdown-menu a[href]:not([href^="#"]):not([href*="/lang/"])')].map(a => a.href)"""
# The first row's "show" link of a grid.
FIRST_SHOW_LINK = """() => { const link = document.querySelector('table a[href*="/show/"]');
    return link ? link.href : null; }"""


@pytest.fixture(scope="module")
def unlinked_pages(app):
    """{account: [paths]}: pages no menu leads to, audited as the account that works on
    them (the demo gala's configuration tabs, as its manager; its scanner page, as its
    checker, who is walked too; the rights screen's forms and confirmations, as opadmin;
    the publication of a certificate, as platform staff; eligibility's results and
    building sheet, as opuser)."""
    from app.extensions import db
    from app.models import Building, Diagnostic, Event, Incident, OperatorAccount, Order
    from app.rules.operator import appointments as appointment_rules

    from .helpers import user

    with app.app_context():
        gala = db.session.query(Event.id).filter_by(name="Gala de Centrale Lyon 2026").scalar()
        account = db.session.query(OperatorAccount.id).filter_by(user_id=user("opuser").id).scalar()
        seed_building = db.session.query(Building.id).filter_by(imb_id="IMB/77058/X/0218").scalar()
        rdv_end = appointment_rules.first_working_day(appointment_rules.bounds()[0] + timedelta(days=3))
        first_order = db.session.query(db.func.min(Order.id)).scalar()
        diagnostic = db.session.query(Diagnostic.id).order_by(Diagnostic.id).limit(1).scalar()
        incident = db.session.query(Incident.id).order_by(Incident.id).limit(1).scalar()
    return {"eventadmin": [f"/events/configure/{gala}/{tab}" for tab in CONFIGURATION_TABS],
            "checker": [f"/events/checkin/{gala}"], "admin": ["/operator/certificates/add"],
            "opadmin": ["/operator/accounts/new"] + [f"/operator/accounts/{account}/{page}"
                                                     for page in ("edit", "deactivate", "delete")],
            # The eligibility search's results with their map, a refused field, the building sheet.
            "opuser": ["/operator/eligibility/?mode=address&address=6+rue+Etienne+Ganneron+Bussy-Saint-Georges",
                       "/operator/eligibility/?mode=point&x=678771.23&y=6860548.07&projection=lambert93&radius=80",
                       "/operator/eligibility/?mode=point&x=678771.23&y=abc&projection=lambert93",
                       f"/operator/eligibility/building/{seed_building}",
                       # e-RDV: the form with its free slots, a refused field, an appointment's page.
                       f"/operator/appointments/new?imb=IMB/77058/X/0218&operation_type=building&window_end={rdv_end}",
                       "/operator/appointments/new?imb=IMB/77058/X/0218&operation_type=building&window_end=31/02/2026",
                       "/operator/appointments/RDV-DEMO-0001",
                       # e-Just Fibre: the wizard's first step from the building sheet, an order's page.
                       "/operator/orders/new?imb=IMB/77058/X/0218", f"/operator/orders/show/{first_order}"],
            # e-SAV Test's access and a result, e-SAV Signalisation's form (a refused
            # field) and an incident's page.
            "opsav": ["/operator/sav/test/?access=F00000015", f"/operator/sav/test/result/{diagnostic}",
                      "/operator/sav/incidents/new?access=F00000017", f"/operator/sav/incidents/show/{incident}"]}


@pytest.fixture(scope="module")
def axe_source():
    assert os.path.exists(AXE_SOURCE_PATH), f"{AXE_SOURCE_PATH} is missing: `make vendor` runs npm ci"
    with open(AXE_SOURCE_PATH, encoding="utf-8") as source:
        return source.read()


class Audit:
    """The pages audited so far, and their serious and critical violations as
    (who, page, rule)."""

    def __init__(self, live_url, axe_source):
        self.live_url, self.axe_source = live_url, axe_source
        self.origin = urlsplit(live_url).netloc
        self.pages, self.found = 0, []
        self.grids = set()  # the grids whose first row was audited ("/bookings/show/")
        self.menu_pages = set()  # the menu's pages audited (as the first role whose menu has them)

    def check(self, page, who, what):
        """Audit the page as it is now (after a click, say)."""
        page.evaluate(self.axe_source)
        self.pages += 1
        self.found.extend((who, what, rule) for rule in page.evaluate(AXE_RUN))

    def visit(self, page, who, url):
        """Open `url` and audit it; False when the link is not an HTML page."""
        response = page.goto(url)
        assert response.status == 200, f"{url}: {response.status}"
        if "text/html" not in (response.headers.get("content-type") or ""):
            return False
        self.check(page, who, urlsplit(url).path)
        return True

    def walk(self, page, who):
        """The role's home page, its menu's pages that no other role's walk audited (the
        platform's pages are in every menu), and the first row of each grid that no
        other role's walk opened."""
        menu = [link for link in dict.fromkeys([page.url] + page.evaluate(MENU_LINKS))
                if urlsplit(link).netloc == self.origin and "/logout" not in link]
        menu = [menu[0]] + [link for link in menu[1:] if link not in self.menu_pages]
        self.menu_pages.update(menu)
        rows = []
        for url in menu:
            if not self.visit(page, who, url):
                continue
            row = page.evaluate(FIRST_SHOW_LINK)
            grid = row and re.sub(r"[^/]*$", "", urlsplit(row).path)
            if row and urlsplit(row).netloc == self.origin and grid not in self.grids:
                self.grids.add(grid)
                rows.append(row)
        for url in rows:
            self.visit(page, who, url)

    def widgets(self, page, who):
        """FAB's and the desks' widgets, opened as people open them."""
        self.visit(page, who, f"{self.live_url}/booking-wizard/")
        calendar = page.locator("a[href*='/rooms/calendar/']").first.get_attribute("href")
        self.visit(page, who, self.live_url + calendar)  # the week, FullCalendar
        page.click(".fc-dayGridMonth-button")
        page.locator("#room-calendar .fc-daygrid-event").first.wait_for()
        self.check(page, who, f"{calendar} (month)")
        self.visit(page, who, f"{self.live_url}/memberships/add")
        page.locator(".select2-selection").nth(1).click()  # select2, open on its search box
        page.locator(".select2-search__field").last.wait_for()
        self.check(page, who, "/memberships/add (select2 open)")
        # A multiple select2 (a person's roles): its clear cross, out of the list of
        # choices, still clears them all (the form is not saved).
        self.visit(page, who, f"{self.live_url}/users/edit/1")
        roles = page.locator("#roles + .select2-container")
        expect(roles.locator(".select2-selection__choice")).not_to_have_count(0)
        roles.locator(".select2-selection__clear").dispatch_event("mousedown")
        expect(roles.locator(".select2-selection__choice")).to_have_count(0)
        expect(roles.locator(".select2-selection__clear")).to_have_count(0)
        self.visit(page, who, f"{self.live_url}/notifications/list/")
        page.click("a.accordion-toggle[href='#accordion1_href']")  # a search filter, its date picker
        page.click("#filter_form button.dropdown-toggle")
        page.click("#filter_form a.filter[name=created_on]")
        page.locator("#filter_form table.filters input.form-control").last.click()
        page.locator(".datepicker").first.wait_for()
        self.check(page, who, "/notifications/list/ (a filter's date picker)")
        page.locator("#filter_form .select2-selection").first.click()
        page.locator(".select2-search__field").last.wait_for()
        self.check(page, who, "/notifications/list/ (a filter's condition)")
        self.visit(page, who, f"{self.live_url}/outbox/list/")
        page.locator("input.action_check").first.check()  # a grid's actions menu
        page.click("button.dropdown-toggle:has-text('Actions')")
        self.check(page, who, "/outbox/list/ (actions menu)")
        page.set_viewport_size({"width": 390, "height": 844})  # a phone: the menu's button
        self.visit(page, who, f"{self.live_url}/")
        page.click(".navbar-toggle")
        page.locator(".navbar-collapse.in").wait_for()
        self.check(page, who, "/ (phone, menu open)")


def test_every_role_s_pages_have_no_serious_accessibility_violation(chromium, browser_login, live_url, axe_source,
                                                                    unlinked_pages):
    audit = Audit(live_url, axe_source)
    context = chromium.new_context(locale="fr-FR", viewport={"width": 1366, "height": 900})
    signed_out = context.new_page()
    for path in SIGNED_OUT_PAGES:
        audit.visit(signed_out, "(signed out)", live_url + path)
    context.close()
    for username in dict.fromkeys(ACCOUNTS + tuple(unlinked_pages)):
        page = browser_login(username)
        audit.walk(page, username)
        for path in unlinked_pages.get(username, ()):
            audit.visit(page, username, live_url + path)
        if username == "admin":
            audit.widgets(page, username)
        page.context.close()
    by_rule = Counter(rule["id"] for _, _, rule in audit.found)
    print(f"axe pages: {audit.pages}")
    assert not audit.found, (
        f"{len(audit.found)} serious or critical violations on {audit.pages} pages ({dict(by_rule)}):\n"
        + "\n".join(f"{who} {what}: {rule['id']} ({rule['impact']}) at {', '.join(rule['targets'][:3])}"
                    for who, what, rule in audit.found))
