"""Desk E, e-Just Fibre: the 4-step wizard (Précédent keeps what was typed, each bad
input refused naming its field, nothing written), the appointment checked against e-RDV,
the per-type workflow moved by the back office only, a done creation opening its access,
"Échanger la box" and "Résilier" from the order page, the dashboard's scoped counts and
links, the TMF622 API with bearer tokens, a race on one order, and row scope."""
import re
from datetime import date, timedelta
from itertools import count

import pytest
from sqlalchemy import select

from app.demo.operator.buildings import SEED_IMB
from app.extensions import db
from app.models import (
    Access,
    Appointment,
    AppointmentState,
    Building,
    BuildingLine,
    EService,
    Entitlement,
    OperationType,
    OperatorSubscription,
    Order,
    OrderState,
    OrderType,
    Organisation,
    OrganisationKind,
    OutboxMail,
    DayPeriod,
    WorkflowEvent,
)
from app.platform.workflow import TransitionRefused
from app.rules.operator import orders as rules

from .helpers import BearerClient, login, member, user

FIBRE = "Fibre Rhône Télécom"
OTHER = "Opérateur Témoin Fibre"
API = "/api/v1/operator/productOrder"
NUMBERS = count(1)


def _operator_id(name):
    return db.session.scalar(select(Organisation.id).where(Organisation.name == name))


def appointment(app, organisation=FIBRE, imb=SEED_IMB, state=AppointmentState.validated):
    """A new e-RDV appointment (its reference), as the appointments desk would book it."""
    with app.app_context():
        building = db.session.scalars(select(Building).where(Building.imb_id == imb)).one()
        reference = f"RDV-T-{next(NUMBERS):05d}"
        db.session.add(Appointment(
            reference=reference, organisation_id=_operator_id(organisation), building_id=building.id,
            street_number=building.street_number, rivoli_code=building.rivoli_code or "0000",
            insee_code=building.insee_code, product="just_fibre", operation_type=OperationType.short,
            window_start=date.today() + timedelta(days=10), window_end=date.today() + timedelta(days=20),
            zone=building.insee_code[:2], slot_date=date.today() + timedelta(days=12),
            slot_period=DayPeriod.morning, state=state))
        db.session.commit()
        return reference


@pytest.fixture(scope="module")
def other_operator(app):
    """A second operator subscribing to e-Just Fibre, with its admin `otheradmin`."""
    with app.app_context():
        if _operator_id(OTHER) is None:
            db.session.add(Organisation(name=OTHER, kind=OrganisationKind.operator))
            db.session.commit()
            service = db.session.scalars(select(EService).where(EService.code == "e-just-fibre")).one()
            db.session.add(OperatorSubscription(organisation_id=_operator_id(OTHER), eservice_id=service.id))
            db.session.commit()
        member("otheradmin", OTHER, "OperatorAdmin")
    return OTHER


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def opuser(client):
    return login(client, "opuser")


def draft(app, **values):
    """A complete order for the seed's building (a fresh appointment each time)."""
    base = {"operator_reference": f"CMD-{next(NUMBERS):05d}", "appointment_reference": appointment(app),
            "imb_id": SEED_IMB, "line_id": "", "offer": "just-fibre", "gtr_option": "",
            "delivery": "installation"}
    return {**base, **values}


def walk(client, values, upto=3):
    """Post steps 1..upto of the wizard with `values`; the last response."""
    client.get(f"/operator/orders/new?imb={values['imb_id']}")
    response = None
    for step in range(1, upto + 1):
        fields = {name: values.get(name, "") for name in rules.STEPS[step]}
        response = client.post(f"/operator/orders/new/{step}", data={**fields, "go": "next"})
    return response


def text(response):
    return response.get_data(as_text=True)


def orders_count():
    return db.session.scalar(select(db.func.count()).select_from(Order))


def create(app, username="opuser", **values):
    """An order made through the rules, as the wizard's last step makes it; its id."""
    with app.app_context():
        order = rules.create_order(user(username), draft(app, **values))
        db.session.commit()
        return order.id


def fire(app, pk, name, username="ops"):
    with app.app_context():
        order = db.session.get(Order, pk)
        rules.ORDER_WORKFLOW.fire(order, name, user(username))
        db.session.commit()


# ---------------------------------------------------------------------------
# The wizard
# ---------------------------------------------------------------------------


def test_the_wizard_orders_with_the_gtr_option_and_previous_keeps_everything(app, opuser):
    values = draft(app, gtr_option="1", delivery="other", delivery_name="Jeanne Martin",
                   delivery_street="3 rue des Lilas", delivery_postcode="77600", delivery_city="Bussy")
    with app.app_context():
        seed = db.session.scalar(select(Building.id).where(Building.imb_id == SEED_IMB))
    sheet = text(opuser.get(f"/operator/eligibility/building/{seed}"))
    assert f"/operator/orders/new?imb={SEED_IMB}" in sheet  # "Commander Just Fibre" from the sheet
    response = opuser.get(f"/operator/orders/new?imb={SEED_IMB}", follow_redirects=True)
    assert f'value="{SEED_IMB}"' in text(response)  # prefilled from the building sheet
    response = walk(opuser, values)
    assert response.headers["Location"].endswith("/operator/orders/new/4")
    summary = text(opuser.get("/operator/orders/new/4"))
    assert "Jeanne Martin" in summary and values["appointment_reference"] in summary and "Just Fibre" in summary
    # "Précédent" from the summary: step 3 shows what was typed, then step 2, then step 1
    response = opuser.post("/operator/orders/new/4", data={"go": "previous"})
    assert response.headers["Location"].endswith("/operator/orders/new/3")
    page = text(opuser.get("/operator/orders/new/3"))
    assert 'value="Jeanne Martin"' in page and 'value="3 rue des Lilas"' in page
    opuser.post("/operator/orders/new/3", data={"go": "previous", "delivery": "other",
                                                "delivery_name": "Jeanne Martin", "delivery_street": "3 rue des Lilas",
                                                "delivery_postcode": "77600", "delivery_city": "Bussy"})
    page = text(opuser.get("/operator/orders/new/2"))
    assert re.search(r'name="gtr_option" value="1" checked', page)
    opuser.post("/operator/orders/new/2", data={"go": "previous", "offer": "just-fibre", "gtr_option": "1"})
    page = text(opuser.get("/operator/orders/new/1"))
    assert f'value="{values["operator_reference"]}"' in page and f'value="{values["appointment_reference"]}"' in page
    with app.app_context():
        before = orders_count()
    walk(opuser, values)
    response = opuser.post("/operator/orders/new/4", data={"go": "validate"})
    assert "/operator/orders/show/" in response.headers["Location"]
    with app.app_context():
        assert orders_count() == before + 1
        order = db.session.scalars(select(Order).where(Order.operator_reference == values["operator_reference"])).one()
        assert order.order_type == OrderType.creation and order.state == OrderState.in_progress
        assert order.gtr_option and not order.delivery_to_installation and order.delivery_city == "Bussy"
        assert order.appointment.reference == values["appointment_reference"]
        assert re.fullmatch(r"JF\d{8}", order.reference)
        pk = order.id
    page = text(opuser.get(f"/operator/orders/show/{pk}"))
    assert "Commande créée" in page and "Jeanne Martin" in page  # the history, in French


@pytest.mark.parametrize("step, changes, field, message", [
    (1, {"operator_reference": ""}, "operator_reference", "Référence de commande opérateur : ce champ est obligatoire."),
    (1, {"operator_reference": "x" * 51}, "operator_reference", "Référence de commande opérateur : 50 caractères au plus."),
    (1, {"imb_id": "IMB/00000/X/0000"}, "imb_id", "Identifiant d'immeuble (IMB) : aucun immeuble n'a cet identifiant."),
    (1, {"line_id": "123"}, "line_id", "Ligne du client final :"),
    (2, {"offer": "optimum-pm"}, "offer", "Offre : choisissez une des offres"),
    (3, {"delivery": "other", "delivery_name": "Jeanne"}, "delivery_street", "Voie : ce champ est obligatoire."),
    (3, {"delivery": "other", "delivery_name": "J", "delivery_street": "r", "delivery_postcode": "7760",
         "delivery_city": "B"}, "delivery_postcode", "Code postal : cinq chiffres sont attendus."),
    (3, {"delivery": "elsewhere"}, "delivery", "Adresse de livraison de la box :"),
])
def test_each_step_refuses_bad_input_naming_the_field(app, opuser, step, changes, field, message):
    values = draft(app, **changes)
    with app.app_context():
        before = orders_count()
    walk(opuser, values, upto=step - 1)
    fields = {name: values.get(name, "") for name in rules.STEPS[step]}
    response = opuser.post(f"/operator/orders/new/{step}", data={**fields, "go": "next"},
                           headers={"Accept-Language": "fr"})
    assert response.status_code == 200
    page = text(response).replace("&#39;", "'")
    assert f'id="{field}-error"' in page and message in page
    with app.app_context():
        assert orders_count() == before


@pytest.mark.parametrize("case", ["unknown", "other operator", "other address", "not validated", "used"])
def test_the_appointment_reference_is_checked_against_e_rdv(app, opuser, other_operator, case):
    if case == "unknown":
        reference = "RDV-NOPE-0000"
    elif case == "other operator":
        reference = appointment(app, organisation=OTHER)
    elif case == "other address":
        with app.app_context():
            imb = db.session.scalar(select(Building.imb_id).where(Building.imb_id != SEED_IMB).limit(1))
        reference = appointment(app, imb=imb)
    elif case == "not validated":
        reference = appointment(app, state=AppointmentState.initialised)
    else:
        reference = draft(app)["appointment_reference"]
        create(app, appointment_reference=reference)
    response = walk(opuser, draft(app, appointment_reference=reference), upto=1)
    page = text(response)
    assert response.status_code == 200 and 'id="appointment_reference-error"' in page
    assert "Référence du rendez-vous :" in page


def test_the_wizard_opens_only_to_those_entitled_to_e_just_fibre(app, client):
    login(client, "opsav")  # an OperatorUser of the same operator without e-Just Fibre
    assert client.get("/operator/orders/new/1").status_code == 403
    assert client.get("/operator/orders/dashboard").status_code == 403


# ---------------------------------------------------------------------------
# The workflow and the access
# ---------------------------------------------------------------------------


def test_only_the_back_office_moves_an_order_and_a_done_creation_opens_the_access(app, client):
    pk = create(app, gtr_option="1")
    login(client, "opuser")
    page = text(client.get(f"/operator/orders/show/{pk}"))
    assert "transition/%d/complete" % pk not in page
    assert client.post(f"/operator/orders/transition/{pk}/complete").status_code == 404
    login(client, "ops")
    page = text(client.get(f"/operator/orders/show/{pk}"))
    assert all(f"transition/{pk}/{name}" in page for name in ("complete", "fail", "reschedule"))
    assert f"transition/{pk}/await_box" not in page  # for terminations and exchanges only
    client.post(f"/operator/orders/transition/{pk}/complete", data={"comment": "Installée"})
    with app.app_context():
        order = db.session.get(Order, pk)
        assert order.state == OrderState.done
        access = order.access
        assert re.fullmatch(r"F\d{8}", access.prestation_id) and access.active and access.gtr_option
        assert access.offer_label == "Just Fibre" and access.building.imb_id == SEED_IMB and access.box_serial
        mails = db.session.scalars(select(OutboxMail).where(OutboxMail.template == "operator/order_changed",
                                                            OutboxMail.recipient == user("opuser").email)).all()
        assert any(access.prestation_id in mail.body for mail in mails)  # the filer hears of it
        with pytest.raises(TransitionRefused):  # done is final
            rules.ORDER_WORKFLOW.fire(order, "fail", user("ops"))


def test_illegal_moves_are_refused_and_change_nothing(app):
    pk = create(app)
    fire(app, pk, "reschedule")
    with app.app_context():
        order = db.session.get(Order, pk)
        for name, username in (("complete", "ops"), ("await_box", "ops"), ("resume", "opuser")):
            with pytest.raises(TransitionRefused):
                rules.ORDER_WORKFLOW.fire(order, name, user(username))
            db.session.rollback()
        assert db.session.get(Order, pk).state == OrderState.appointment_to_reschedule
    fire(app, pk, "resume")
    fire(app, pk, "cancel", username="opuser")  # the operator may withdraw it
    with app.app_context():
        assert db.session.get(Order, pk).state == OrderState.cancelled


def test_box_exchange_and_termination_are_new_orders_on_the_access(app, client):
    pk = create(app)
    fire(app, pk, "complete")
    login(client, "opuser")
    page = text(client.get(f"/operator/orders/show/{pk}", headers={"Accept-Language": "fr"}))
    assert "Échanger la box" in page and "Résilier" in page
    response = client.post(f"/operator/orders/show/{pk}/exchange")
    exchange = int(response.headers["Location"].rsplit("/", 1)[1])
    client.post(f"/operator/orders/show/{pk}/terminate")  # refused: the exchange is under way
    with app.app_context():
        order = db.session.get(Order, pk)
        serial = order.access.box_serial
        assert db.session.scalar(select(db.func.count()).select_from(Order).where(
            Order.access_id == order.access_id)) == 2
        assert db.session.get(Order, exchange).order_type == OrderType.box_exchange
    for name in ("await_box", "box_returned"):
        fire(app, exchange, name)
    response = client.post(f"/operator/orders/show/{pk}/terminate")
    termination = int(response.headers["Location"].rsplit("/", 1)[1])
    for name in ("await_box", "box_returned"):
        fire(app, termination, name)
    with app.app_context():
        access = db.session.get(Order, pk).access
        assert access.box_serial != serial and not access.active and access.closed_on is not None
        assert db.session.get(Order, termination).order_type == OrderType.termination
    page = text(client.get(f"/operator/orders/show/{pk}", headers={"Accept-Language": "fr"}))
    assert "Échanger la box" not in page and "Résilier</button>" not in page


# ---------------------------------------------------------------------------
# The dashboard
# ---------------------------------------------------------------------------


def dashboard(client):
    """{(table id, state): (count, link)} of the dashboard page."""
    page = text(client.get("/operator/orders/dashboard"))
    cells = {}
    for table, body in re.findall(r'<table class="table table-bordered orders-counts" id="orders-(\w+)">(.*?)</table>',
                                  page, re.S):
        for link, state, number in re.findall(r'<a href="([^"]+)" class="orders-count" data-state="(\w+)"[^>]*>(\d+)<',
                                              body):
            cells[(table, state)] = (int(number), link.replace("&amp;", "&"))
    return cells


def test_the_dashboard_counts_each_type_and_state_of_one_s_operator_and_links_to_the_grid(app, client,
                                                                                           other_operator):
    login(client, "opuser")
    before = dashboard(client)
    assert set(before) == {("creation", s) for s in ("in_progress", "failed", "done", "appointment_to_reschedule")} | {
        (kind, s) for kind in ("termination", "box_exchange") for s in ("in_progress", "awaiting_box_return", "done")}
    assert all(number > 0 for number, _ in before.values())  # the demo fills every cell
    create(app)
    other = create(app, username="otheradmin", appointment_reference=appointment(app, organisation=OTHER))
    after = dashboard(client)
    assert after[("creation", "in_progress")][0] == before[("creation", "in_progress")][0] + 1
    assert {key: value[0] for key, value in after.items() if key != ("creation", "in_progress")} == {
        key: value[0] for key, value in before.items() if key != ("creation", "in_progress")}
    number, link = after[("creation", "failed")]
    grid = text(client.get(link))
    assert len(set(re.findall(r"/operator/orders/show/(\d+)", grid))) == number
    with app.app_context():
        other_reference = db.session.get(Order, other).reference
    grid = text(client.get(after[("creation", "in_progress")][1]))
    assert other_reference not in grid
    login(client, "otheradmin")
    assert dashboard(client)[("creation", "in_progress")][0] == 1
    login(client, "ops")
    assert dashboard(client)[("creation", "in_progress")][0] == after[("creation", "in_progress")][0] + 1
    page = text(client.get("/operator/orders/dashboard"))
    assert "vendor/chart.js/chart.min.js" in page and 'data-chart="' in page


def test_an_operator_never_sees_another_operator_s_order(app, client, other_operator):
    other = create(app, username="otheradmin", appointment_reference=appointment(app, organisation=OTHER))
    with app.app_context():
        reference = db.session.get(Order, other).reference
    login(client, "opuser")
    assert client.get(f"/operator/orders/show/{other}").status_code == 404
    assert reference not in text(client.get("/operator/orders/list/?psize_OrderView=100"))
    assert client.post(f"/operator/orders/show/{other}/terminate").status_code == 404
    assert client.post(f"/operator/orders/transition/{other}/cancel").status_code == 404
    api = BearerClient(app, "opuser")
    assert api.get(f"{API}/{reference}").status_code == 404
    assert reference not in text(api.get(f"{API}?limit=100"))
    assert api.post("/api/v1/operator/cancelProductOrder", json={"productOrder": {"id": reference}}).status_code == 404


# ---------------------------------------------------------------------------
# TMF622
# ---------------------------------------------------------------------------


def tmf_body(app, **changes):
    body = {"externalId": f"API-{next(NUMBERS):05d}", "category": "creation", "productOrderItem": [{
        "action": "add", "productOffering": {"id": "just-fibre"}, "gtrOption": True,
        "appointment": {"id": appointment(app)}, "product": {"place": [{"id": SEED_IMB}]}}]}
    body.update(changes)
    return body


def test_tmf622_create_get_list_cancel_and_the_back_office_s_state_change(app, other_operator):
    api = BearerClient(app, "opuser")
    response = api.post(API, json=tmf_body(app))
    assert response.status_code == 201, response.json
    created = response.json
    assert created["state"] == "inProgress" and created["category"] == "creation" and created["@type"] == "ProductOrder"
    assert created["productOrderItem"][0]["gtrOption"] is True
    reference = created["id"]
    assert api.get(f"{API}/{reference}").json["externalId"] == created["externalId"]
    listed = api.get(f"{API}?state=inProgress&category=creation&limit=100")
    assert reference in [item["id"] for item in listed.json] and int(listed.headers["X-Total-Count"]) >= 1
    assert all(item["state"] == "inProgress" for item in listed.json)
    assert reference not in [item["id"] for item in api.get(f"{API}?state=completed&limit=100").json]
    # the operator may not complete it; the back office may
    assert api.open(f"{API}/{reference}", "PATCH", json={"state": "completed"}).status_code == 422
    ops = BearerClient(app, "ops")
    response = ops.open(f"{API}/{reference}", "PATCH", json={"state": "completed", "note": "posée"})
    assert response.status_code == 200 and response.json["state"] == "completed"
    assert re.fullmatch(r"F\d{8}", response.json["productOrderItem"][0]["product"]["id"])
    assert ops.open(f"{API}/{reference}", "PATCH", json={"state": "pending"}).status_code == 422
    # cancel another one
    second = api.post(API, json=tmf_body(app)).json["id"]
    response = api.post("/api/v1/operator/cancelProductOrder", json={"productOrder": {"id": second},
                                                                    "cancellationReason": "client parti"})
    assert response.status_code == 201 and response.json["productOrder"]["state"] == "cancelled"
    assert api.get(f"{API}/{second}").json["state"] == "cancelled"
    assert api.post("/api/v1/operator/cancelProductOrder", json={"productOrder": {"id": second}}).status_code == 422


@pytest.mark.parametrize("changes, field", [
    ({"externalId": None}, "externalId"),
    ({"category": "termination"}, "category"),
    ({"productOrderItem": [{"productOffering": {"id": "just-fibre"}, "product": {"place": [{"id": SEED_IMB}]},
                            "appointment": {"id": "RDV-NOPE"}}]}, "productOrderItem[0].appointment.id"),
    ({"productOrderItem": [{"productOffering": {"id": "optimum-pm"}, "product": {"place": [{"id": SEED_IMB}]}}]},
     "productOrderItem[0].appointment.id"),
    ({"deliveryAddress": {"name": "X"}}, "deliveryAddress.street"),
    ({"deliveryAddress": "ici"}, "deliveryAddress"),
])
def test_tmf622_refusals_name_the_field_and_create_nothing(app, changes, field):
    api = BearerClient(app, "opuser")
    with app.app_context():
        before = orders_count()
    response = api.post(API, json=tmf_body(app, **changes))
    assert response.status_code == 400 and field in response.json["message"], response.json
    assert api.post(API, data="[", content_type="application/json").status_code == 400
    assert api.get(f"{API}?state=done").status_code == 400
    with app.app_context():
        assert orders_count() == before


def test_tmf622_needs_the_entitlement(app):
    api = BearerClient(app, "opsav")
    response = api.get(API)
    assert response.status_code == 403 and "e-Just Fibre" in response.json["message"]


# ---------------------------------------------------------------------------
# Races
# ---------------------------------------------------------------------------


def test_two_agents_completing_one_order_at_once_open_one_access(app, live_url):
    from .test_races import Visitor, burst

    with app.app_context():
        member("ops2", "Fibre de France Wholesale", "WholesaleAgent")
    pk = create(app)
    visitors = [Visitor(live_url, "ops"), Visitor(live_url, "ops2")]
    results = burst([lambda v=v: v.post_and_follow(f"/operator/orders/transition/{pk}/complete", {"comment": ""})
                     for v in visitors])
    assert all(status == 302 for status, _ in results)
    with app.app_context():
        order = db.session.get(Order, pk)
        assert order.state == OrderState.done
        assert db.session.scalar(select(db.func.count()).select_from(WorkflowEvent).where(
            WorkflowEvent.object_type == "operator_order", WorkflowEvent.object_id == pk,
            WorkflowEvent.transition == "complete")) == 1
        assert db.session.scalar(select(db.func.count()).select_from(Access).where(
            Access.building_id == order.building_id, Access.id == order.access_id)) == 1
    told = [page for _, page in results if "déjà" in page or "already" in page]
    assert len(told) == 1
