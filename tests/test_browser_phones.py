"""Every desk's main pages on a phone (390 CSS pixels wide, issue 11): the document is
never wider than the screen, so nobody scrolls the whole page sideways. A wide grid may
scroll inside its own box; the page around it may not.

Each page is opened as the role that works on it; a page that does not open (an error
where none is expected) fails too, so a width is never measured on the wrong page."""
from datetime import timedelta

import pytest

from app.extensions import db
from app.models import Booking, Building, Diagnostic, Event, HelpRequest, Incident, Order, Organisation, Project

from .helpers import local_now, user

PHONE_WIDTH = 390
CHECKED = []  # (who, page, width) of every page this module measured


@pytest.fixture(scope="module", autouse=True)
def page_count():
    yield
    print(f"\n{len(CHECKED)} pages checked at {PHONE_WIDTH} px")


@pytest.fixture(scope="module")
def ids(app):
    """The demo rows the pages are about."""
    with app.app_context():
        creator = user("creator")
        booking = db.session.query(Booking).filter_by(creator_id=creator.id).order_by(Booking.id).first()
        project = db.session.query(Project).filter_by(name="Billetterie Festival 2026").one()
        teacher = user("teacher")
        request = db.session.query(HelpRequest).filter_by(requester_id=teacher.id).order_by(HelpRequest.id).first()
        escalated = db.session.query(HelpRequest).filter(HelpRequest.support_state.is_not(None)).first()
        return {
            "booking": booking.id, "room": booking.rooms[0].id,
            "project": project.id,
            "request": request.id, "teacher": teacher.id, "escalated": escalated.id,
            "organisation": db.session.query(Organisation.id).order_by(Organisation.id).first()[0],
            "admin": user("admin").id,
            "gala": db.session.query(Event.id).filter_by(name="Gala de Centrale Lyon 2026").scalar(),
            "seed_building": db.session.query(Building.id).filter_by(imb_id="IMB/77058/X/0218").scalar(),
            "order": db.session.query(db.func.min(Order.id)).scalar(),
            "diagnostic": db.session.query(db.func.min(Diagnostic.id)).scalar(),
            "incident": db.session.query(db.func.min(Incident.id)).scalar(),
        }


class Phone:
    """One person's phone: opens pages and measures each one's document width."""

    def __init__(self, page, live_url, who):
        self.page, self.live_url, self.who, self.widths = page, live_url, who, []

    def open(self, path, status=200):
        response = self.page.goto(self.live_url + path)
        assert response.status == status, f"{self.who} {path}: HTTP {response.status}"
        self.measure(path)

    def measure(self, label):
        self.page.wait_for_load_state("load")
        width = self.page.evaluate("document.documentElement.scrollWidth")
        self.widths.append((label, width))
        CHECKED.append((self.who, label, width))


def assert_fit(*phones):
    """Every page each phone opened is at most PHONE_WIDTH wide (all are listed if not)."""
    wide = [f"{p.who} {label}: {width} px" for p in phones for label, width in p.widths if width > PHONE_WIDTH]
    print(f"\n{sum(len(p.widths) for p in phones)} pages, widths: "
          + ", ".join(f"{p.who} {label} {width}" for p in phones for label, width in p.widths))
    assert not wide, f"Pages wider than {PHONE_WIDTH} px:\n" + "\n".join(wide)


@pytest.fixture()
def phone(phone_login, live_url):
    """phone('creator') -> a Phone signed in as that demo account (None: signed out)."""
    return lambda who: Phone(phone_login(who), live_url, who or "signed out")


def _next_wednesday(weeks):
    day = local_now().date() + timedelta(weeks=weeks)
    return day - timedelta(days=day.weekday()) + timedelta(days=2)


def test_desk_a_booking_fits_a_phone(phone, ids):
    creator = phone("creator")
    creator.open("/")
    creator.open("/booking-wizard/")
    page = creator.page
    page.check("input[name=room] >> nth=0")
    page.click("button[value=next]")
    page.wait_for_selector("table.participants")
    page.fill("input[name=p-0-name]", "Salle des actes de la direction académique — Nantes")
    page.select_option("select[name=p-0-kind]", "ip")
    page.fill("input[name=p-0-ip_address]", "10.44.0.9")
    page.fill("input[name=p-0-email]", "salle.des.actes.direction@partenaire-academique.example")
    page.click("#add-participant")
    page.fill("input[name=p-1-name]", "Portable du recteur")
    page.select_option("select[name=p-1-kind]", "mobile")
    creator.measure("wizard step 2 (participants)")
    page.click("button[value=next]")
    page.wait_for_selector("#session_name")
    creator.measure("wizard step 3 (schedule)")
    page.fill("#session_name", "Conférence des chefs d'établissement du second degré")
    page.fill("#organiser_phone", "04 72 80 60 10")
    page.fill("#day", _next_wednesday(40).isoformat())
    page.select_option("#start_time", "10:00")
    page.select_option("#end_time", "11:30")
    page.click("button[value=next]")
    page.wait_for_selector(".booking-review")
    creator.measure("wizard step 4 (review)")
    creator.open(f"/bookings/show/{ids['booking']}")
    creator.open("/bookings/list/")
    creator.open(f"/rooms/calendar/{ids['room']}")
    creator.open("/rooms/freebusy/")
    creator.open("/rooms/freebusy/?view=week")
    creator.open("/rooms/list/")
    creator.open(f"/rooms/show/{ids['room']}")
    creator.open("/equipment/list/")

    vnoc = phone("vnoc")
    vnoc.open("/")
    vnoc.open("/bookings/queue/")
    vnoc.open("/bookings/connections/")
    vnoc.open("/bookings/report/")
    vnoc.open(f"/bookings/show/{ids['booking']}")
    assert_fit(creator, vnoc)


def test_desk_b_tickets_fits_a_phone(phone, ids):
    client = phone("client")
    client.open("/")
    client.open("/extranet/")
    client.open(f"/extranet/project/{ids['project']}")
    client.open("/extranet/ticket/OK899Q5")
    client.open(f"/extranet/new?project={ids['project']}")
    client.open("/extranet/tickets")
    client.open(f"/extranet/project/{ids['project']}/visibility")

    agent = phone("agent")
    agent.open("/")
    for queue in ("mine", "unassigned", "waiting_client", "overdue"):
        agent.open(f"/ticket-queues/{queue}")
    agent.open("/extranet/ticket/OK899Q5")
    agent.open(f"/extranet/project/{ids['project']}")

    lead = phone("lead")
    lead.open("/")
    lead.open("/ticket-queues/unassigned")
    lead.open("/tickets/list/")
    lead.open("/projects/list/")
    lead.open("/canned-answers/list/")
    lead.open("/extranet/ticket/KJC0E3R")
    assert_fit(client, agent, lead)


def test_desk_c_ent_fits_a_phone(phone, ids):
    teacher = phone("teacher")
    teacher.open("/")
    teacher.open("/helprequests/new")
    teacher.open("/helprequests/list/")
    teacher.open(f"/helprequests/show/{ids['request']}")

    referent = phone("referent")
    referent.open("/")
    referent.open("/helprequests/list/")
    referent.open(f"/helprequests/show/{ids['request']}")
    referent.open(f"/helprequests/requester/{ids['teacher']}")

    desk = phone("desk")
    desk.open("/")
    desk.open("/helprequests/list/")
    desk.open(f"/helprequests/show/{ids['escalated']}")
    assert desk.page.locator("#reply-comment").count() == 1  # the page with its reply box
    assert_fit(teacher, referent, desk)


def test_desk_d_events_fit_a_phone(phone, ids):
    manager = phone("eventadmin")
    manager.open(f"/events/show/{ids['gala']}")
    for tab in ("information", "tickets", "options", "groups", "items", "admins"):
        manager.open(f"/events/configure/{ids['gala']}/{tab}")
    checker = phone("checker")  # the same tabs read-only
    for tab in ("tickets", "options", "admins"):
        checker.open(f"/events/configure/{ids['gala']}/{tab}")
    checker.open(f"/events/checkin/{ids['gala']}")  # the door's scanner, on the phone it runs on
    student = phone("etudiant")  # their gala place and their guest's, items to give, the booking form
    student.open("/events/places")
    student.open(f"/events/show/{ids['gala']}")
    assert_fit(manager, checker, student)


def test_desk_e_operator_fits_a_phone(phone, ids):
    """The Just Fibre journey's pages (issue 15), each as the account that works on it."""
    operator = phone("opuser")
    operator.open("/operator/")
    operator.open(f"/operator/eligibility/building/{ids['seed_building']}")
    operator.open("/operator/appointments/new?imb=IMB/77058/X/0218&operation_type=building")
    operator.open("/operator/appointments/")
    operator.open("/operator/appointments/RDV-DEMO-0001")
    operator.open("/operator/orders/new?imb=IMB/77058/X/0218")
    operator.open("/operator/orders/dashboard")
    operator.open("/operator/orders/list/")
    operator.open(f"/operator/orders/show/{ids['order']}")
    after_sales = phone("opsav")
    after_sales.open("/operator/sav/test/?access=F00000017")
    after_sales.open(f"/operator/sav/test/result/{ids['diagnostic']}")
    after_sales.open("/operator/sav/incidents/new?access=F00000017")
    after_sales.open("/operator/sav/incidents/list/")
    after_sales.open(f"/operator/sav/incidents/show/{ids['incident']}")
    back_office = phone("ops")
    back_office.open(f"/operator/orders/show/{ids['order']}")
    assert_fit(operator, after_sales, back_office)


def test_the_platform_fits_a_phone(phone, ids):
    visitor = phone(None)
    visitor.open("/login/")
    visitor.open("/password/forgot/")

    admin = phone("admin")
    admin.open("/")
    admin.open("/notifications/list/")
    admin.open("/organisations/list/")
    admin.open(f"/organisations/show/{ids['organisation']}")
    admin.open(f"/organisations/edit/{ids['organisation']}")
    admin.open("/organisations/add")
    admin.open("/memberships/list/")
    admin.open("/users/list/")
    admin.open(f"/users/show/{ids['admin']}")
    admin.open("/users/userinfo/")
    admin.open("/outbox/list/")
    admin.open("/delegations/list/")
    admin.open("/no-such-page/", status=404)

    teacher = phone("teacher")
    teacher.open("/notifications/list/")
    teacher.open("/users/userinfo/")
    assert_fit(visitor, admin, teacher)
