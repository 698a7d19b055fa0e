"""Desk E, e-RDV as operators meet it: the window [D+8, D+26] on working days (French
public holidays excluded), free slots from the technicians' capacity, taking a slot
(the reference for the order), confirming, rescheduling and cancelling (the slot freed),
two operators racing for the last slot (one wins), the row scope (another operator
sees nothing, the wholesale side everything), the entitlement both ways, the TMF646
API with bearer tokens, and bad input answered by a message naming the field."""
import html
import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.demo.operator import appointments as demo
from app.demo.operator import buildings as demo_buildings
from app.extensions import db
from app.models import (
    Appointment,
    Building,
    BuildingState,
    DayPeriod,
    EService,
    Membership,
    Organisation,
    OrganisationKind,
    OperatorSubscription,
    TechnicianCapacity,
    WorkflowEvent,
)
from app.rules.operator import appointments as rules
from app.security import OPERATOR_ADMIN

from .helpers import BearerClient, login, member

URL = "/api/v1/operator/appointment"
ZONE = "98"  # a zone of the tests' own: no demo appointment counts in it
OTHER = "Opérateur Essai RDV"


def working_days():
    first, last = rules.bounds()
    days, day = [], first
    while day <= last:
        if rules.is_working_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


@pytest.fixture(scope="module")
def place(app):
    """A building of the tests' zone, its capacity calendar: the first working day from
    D+8 has one morning slot and no afternoon; the second one morning slot (the race)."""
    with app.app_context():
        building = Building(imb_id="IMB/98001/T/0001", state=BuildingState.available, street_number=12,
                            street_name="RUE DES ESSAIS", postcode="98000", commune="ESSAI", insee_code="98001",
                            rivoli_code="T001", address_key="12 rue des essais 98000 essai", x_l93=0, y_l93=0,
                            longitude=0, latitude=0)
        db.session.add(building)
        days = working_days()
        db.session.add_all([
            TechnicianCapacity(zone=ZONE, day=days[0], period=DayPeriod.morning, slots=1),
            TechnicianCapacity(zone=ZONE, day=days[0], period=DayPeriod.afternoon, slots=0),
            TechnicianCapacity(zone=ZONE, day=days[1], period=DayPeriod.morning, slots=1),
            TechnicianCapacity(zone=ZONE, day=days[1], period=DayPeriod.afternoon, slots=0)])
        db.session.commit()
        building_id = building.id
    yield building_id, days
    with app.app_context():
        db.session.query(WorkflowEvent).filter(WorkflowEvent.object_type == "appointment", WorkflowEvent.object_id.in_(
            select(Appointment.id).where(Appointment.zone == ZONE))).delete(synchronize_session=False)
        db.session.query(Appointment).filter_by(zone=ZONE).delete()
        db.session.query(TechnicianCapacity).filter_by(zone=ZONE).delete()
        db.session.query(Building).filter_by(id=building_id).delete()
        db.session.commit()


@pytest.fixture(scope="module")
def other_operator(app):
    """Another operator subscribing to e-RDV, with its admin `rdvother`."""
    with app.app_context():
        operator = Organisation(name=OTHER, kind=OrganisationKind.operator, city="Nantes")
        db.session.add(operator)
        db.session.flush()
        service = db.session.scalar(select(EService).where(EService.code == "e-rdv"))
        db.session.add(OperatorSubscription(organisation_id=operator.id, eservice_id=service.id))
        db.session.commit()
        member("rdvother", OTHER, role=OPERATOR_ADMIN)
        operator_id = operator.id
    yield operator_id
    with app.app_context():
        db.session.query(Appointment).filter_by(organisation_id=operator_id).delete()
        for model in (OperatorSubscription, Membership):
            db.session.query(model).filter_by(organisation_id=operator_id).delete()
        db.session.delete(db.session.get(Organisation, operator_id))
        db.session.commit()


@pytest.fixture(scope="module")
def opuser(app):
    return BearerClient(app, "opuser")


def body(day_from, day_to, **extra):
    return {"relatedPlace": {"streetNr": "12", "rivoliCode": "T001", "inseeCode": "98001"},
            "product": "just_fibre", "operationType": "building", "category": "standard",
            "requestedTimeSlot": {"validFor": {"startDateTime": day_from.isoformat(),
                                               "endDateTime": day_to.isoformat()}}, **extra}


def slot_ids(response):
    assert response.status_code == 201, response.json
    return [slot["id"] for slot in response.json["availableTimeSlot"]]


def message(response):
    return {path: " ".join(texts) for path, texts in response.json["message"].items()}


# -- the window ---------------------------------------------------------------

TODAY = date(2026, 7, 2)  # a Thursday: D+7, D+8, D+26 and D+27 are working days; 14 July is a holiday


@pytest.mark.parametrize("start, end, field, words", [
    (TODAY + timedelta(days=7), TODAY + timedelta(days=11), "window_start", "Début de plage : 09/07/2026 est trop tôt"),
    (TODAY + timedelta(days=8), TODAY + timedelta(days=26), None, None),
    (TODAY + timedelta(days=11), TODAY + timedelta(days=27), "window_end", "Fin de plage : 29/07/2026 est trop tard"),
    (date(2026, 7, 14), date(2026, 7, 20), "window_start", "est un jour férié"),
    (date(2026, 7, 10), date(2026, 7, 12), "window_end", "n'est pas un jour ouvré"),
    (date(2026, 7, 20), date(2026, 7, 15), "window_end", "Fin de plage : la plage se termine avant"),
])
def test_the_window_falls_in_d8_d26_on_working_days(app, start, end, field, words):
    with app.test_request_context():
        if field is None:
            assert rules.check_window(start, end, today=TODAY) == (start, end)
            return
        with pytest.raises(rules.AppointmentRefused) as refused:
            rules.check_window(start, end, today=TODAY)
    assert refused.value.field == field and words in refused.value.message, refused.value.message


def test_free_slots_are_on_working_days_only_and_an_empty_start_is_d8(app):
    with app.test_request_context():
        days = {slot.day for slot in rules.free_slots("99", date(2026, 7, 10), date(2026, 7, 15))}
        assert days == {date(2026, 7, 10), date(2026, 7, 13), date(2026, 7, 15)}  # not the weekend nor 14 July
        assert rules.check_window(None, date(2026, 7, 13), today=TODAY)[0] == date(2026, 7, 10)


# -- slots, booking, the order's check ------------------------------------------


def test_a_full_slot_is_not_offered_and_cannot_be_taken(app, opuser, place):
    building_id, days = place
    first = days[0]
    assert slot_ids(opuser.post(f"{URL}/searchTimeSlot", json=body(first, first))) == [f"{first}.morning"]
    taken = opuser.post(URL, json=body(first, first, timeSlot={"id": f"{first}.morning"}))
    assert taken.status_code == 201, taken.json
    assert taken.json["status"] == "initialised" and taken.json["id"].startswith("RDV-")
    assert taken.json["relatedPlace"]["id"] == "IMB/98001/T/0001"
    assert slot_ids(opuser.post(f"{URL}/searchTimeSlot", json=body(first, first))) == []
    again = opuser.post(URL, json=body(first, first, timeSlot={"id": f"{first}.morning"}))
    assert again.status_code == 400 and "Créneau" in message(again)["timeSlot.id"]
    with app.app_context():
        assert db.session.query(Appointment).filter_by(zone=ZONE, slot_date=first).count() == 1


def test_taking_confirming_and_carrying_the_reference_into_the_order(app, opuser, place, other_operator):
    building_id, days = place
    day = days[3]
    taken = opuser.post(URL, json=body(days[2], day, timeSlot={"id": f"{day}.afternoon"}, preferredMoment="afternoon"))
    reference = taken.json["id"]
    with app.test_request_context():
        item = db.session.scalar(select(Appointment).where(Appointment.reference == reference))
        with pytest.raises(rules.AppointmentRefused, match="Référence du rendez-vous : .* seul un rendez-vous confirmé"):
            rules.appointment_for_order(reference, item.organisation_id, building_id)
    confirmed = opuser.open(f"{URL}/{reference}", "PATCH", json={"status": "validated"})
    assert confirmed.status_code == 200 and confirmed.json["status"] == "validated"
    assert opuser.get(f"{URL}/{reference}").json["validFor"]["startDateTime"].startswith(f"{day}T13:00:00+")
    with app.test_request_context():
        seed = db.session.scalar(select(Building.id).where(Building.imb_id == demo_buildings.SEED_IMB))
        organisation = db.session.scalar(select(Appointment.organisation_id).where(Appointment.reference == reference))
        assert rules.appointment_for_order(reference.lower(), organisation, building_id).reference == reference
        for wanted, who, where in [("pas de rendez-vous", other_operator, building_id),
                                   ("une autre adresse", organisation, seed),
                                   ("pas de rendez-vous", organisation, building_id)]:
            with pytest.raises(rules.AppointmentRefused, match=f"Référence du rendez-vous : .*{wanted}") as refused:
                rules.appointment_for_order(reference if wanted != "pas de rendez-vous" or who != organisation
                                            else "RDV-NOPE", who, where)
            assert refused.value.field == "appointment_reference"


def test_rescheduling_keeps_the_reference_and_frees_the_slot_cancelling_frees_it_too(app, opuser, place):
    _, days = place
    old, new = days[4], days[5]
    reference = opuser.post(URL, json=body(old, old, timeSlot={"id": f"{old}.morning"})).json["id"]
    moved = opuser.open(f"{URL}/{reference}", "PATCH", json={"timeSlot": {"id": f"{new}.afternoon"}})
    assert moved.status_code == 200, moved.json
    assert moved.json["id"] == reference and moved.json["timeSlot"]["id"] == f"{new}.afternoon"
    with app.test_request_context():
        default = rules.default_slots()
        free = {slot.id: slot.free for slot in rules.free_slots(ZONE, old, new)}
        item = db.session.scalar(select(Appointment).where(Appointment.reference == reference))
        kinds = [event.transition for event in rules.APPOINTMENT_WORKFLOW.history(item)]
    assert free[f"{old}.morning"] == default and free[f"{new}.afternoon"] == default - 1
    assert kinds == ["book", "reschedule"]
    cancelled = opuser.open(f"{URL}/{reference}", "PATCH", json={"status": "cancelled"})
    assert cancelled.json["status"] == "cancelled"
    with app.test_request_context():
        assert {s.id: s.free for s in rules.free_slots(ZONE, new, new)}[f"{new}.afternoon"] == default
    again = opuser.open(f"{URL}/{reference}", "PATCH", json={"timeSlot": {"id": f"{old}.morning"}})
    assert again.status_code == 400 and "annulé" in json.dumps(again.json, ensure_ascii=False)


def test_two_operators_racing_for_the_last_slot_one_wins(app, live_url, place):
    _, days = place
    day = days[1]
    tokens = [BearerClient(app, name).headers for name in ("opuser", "opadmin")] * 6
    payload = json.dumps(body(day, day, timeSlot={"id": f"{day}.morning"})).encode()

    def take(headers):
        request = urllib.request.Request(live_url + URL, data=payload, method="POST",
                                         headers={**headers, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    with ThreadPoolExecutor(len(tokens)) as pool:
        statuses = list(pool.map(take, tokens))
    assert sorted(statuses) == [201] + [400] * (len(tokens) - 1), statuses
    with app.app_context():
        assert db.session.query(Appointment).filter_by(zone=ZONE, slot_date=day,
                                                       slot_period=DayPeriod.morning).count() == 1


# -- who sees what ---------------------------------------------------------------


def test_another_operator_sees_none_of_the_first_operator_s_appointments(app, other_operator):
    other = BearerClient(app, "rdvother")
    listed = other.get(URL)
    assert listed.status_code == 200 and demo.SEED_REFERENCE not in json.dumps(listed.json)
    assert other.get(f"{URL}/{demo.SEED_REFERENCE}").status_code == 404
    assert other.open(f"{URL}/{demo.SEED_REFERENCE}", "PATCH", json={"status": "cancelled"}).status_code == 404
    client = login(app.test_client(), "rdvother")
    assert client.get(f"/operator/appointments/{demo.SEED_REFERENCE}").status_code == 404
    assert demo.SEED_REFERENCE not in client.get("/operator/appointments/").get_data(as_text=True)
    assert demo.SEED_REFERENCE not in client.get("/operator/appointments/export/csv").get_data(as_text=True)
    exported = login(app.test_client(), "opuser").get("/operator/appointments/export/csv?state=validated")
    assert f"{demo.SEED_REFERENCE};Fibre Rhône Télécom;" in exported.get_data(as_text=True)
    mine = BearerClient(app, "opuser").get(f"{URL}?status=validated")
    assert demo.SEED_REFERENCE in [item["id"] for item in mine.json]
    assert mine.json[0]["relatedParty"][0]["name"] == "Fibre Rhône Télécom"


def test_the_wholesale_side_sees_every_operator_s_and_marks_only_a_day_that_has_come(app):
    wholesale = BearerClient(app, "wholesale")
    assert demo.SEED_REFERENCE in [item["id"] for item in wholesale.get(f"{URL}?limit=500").json]
    early = wholesale.open(f"{URL}/{demo.SEED_REFERENCE}", "PATCH", json={"status": "attended"})
    assert early.status_code == 400 and "à partir de ce jour" in message(early)["status"]
    assert wholesale.post(URL, json={}).status_code == 403
    page = login(app.test_client(), "wholesale").get(f"/operator/appointments/{demo.SEED_REFERENCE}")
    assert page.status_code == 200 and "Fibre Rhône Télécom" in page.get_data(as_text=True)


def test_the_entitlement_opens_e_rdv_both_ways(app):
    assert BearerClient(app, "opsav").post(f"{URL}/searchTimeSlot", json={}).status_code == 403
    assert login(app.test_client(), "opsav").get("/operator/appointments/new").status_code == 403
    home = login(app.test_client(), "opuser").get("/operator/").get_data(as_text=True)
    assert "/operator/appointments/new" in home


# -- the screens -------------------------------------------------------------------


def test_the_form_lists_free_slots_takes_one_and_confirms_it(app, place):
    _, days = place
    client = login(app.test_client(), "opuser")
    values = {"street_number": "12", "rivoli_code": "T001", "insee_code": "98001", "product": "just_fibre",
              "operation_type": "short", "appointment_type": "standard", "window_start": days[6].strftime("%d/%m/%Y"),
              "window_end": days[6].isoformat(), "preferred_weekday": "", "preferred_period": "morning"}
    page = html.unescape(client.get("/operator/appointments/new", query_string=values).get_data(as_text=True))
    assert "IMB/98001/T/0001" in page and f'value="{days[6]}.morning"' in page
    assert f'value="{days[6]}.afternoon"' not in page
    taken = client.post("/operator/appointments/new", data={**values, "slot": f"{days[6]}.morning"})
    assert taken.status_code == 302
    shown = html.unescape(client.get(taken.headers["Location"]).get_data(as_text=True))
    reference = shown.partition('class="appointment-reference">')[2].partition("<")[0]
    assert reference.startswith("RDV-") and "à reporter dans e-Just Fibre" in shown
    client.post(f"/operator/appointments/{reference}/validate")
    assert "Validé" in client.get(f"/operator/appointments/{reference}").get_data(as_text=True)


def test_the_building_sheet_s_link_prefills_the_address(app):
    client = login(app.test_client(), "opuser")
    with app.app_context():
        seed = db.session.scalar(select(Building.id).where(Building.imb_id == demo_buildings.SEED_IMB))
    sheet = html.unescape(client.get(f"/operator/eligibility/building/{seed}").get_data(as_text=True))
    link = sheet.partition('id="book-appointment"')[0].rpartition('href="')[2].partition('"')[0]
    page = client.get(link)
    text = page.get_data(as_text=True)
    assert 'value="0361"' in text and 'value="77058"' in text and 'value="6"' in text


@pytest.mark.parametrize("values, words", [
    ({"street_number": "six"}, "Numéro de voie : "),
    ({"rivoli_code": ""}, "Code voie (RIVOLI) : ce champ est obligatoire"),
    ({"insee_code": "7705"}, "Code commune (INSEE) : "),
    ({"street_number": "999"}, "aucun immeuble"),
    ({"operation_type": "x"}, "Type opération : "),
    ({"window_end": "31/02/2026"}, "Fin de plage : "),
    ({"product": "copper"}, "Identifiant de l'accès : "),
])
def test_bad_input_is_a_message_naming_the_field(app, place, values, words):
    _, days = place
    typed = {"street_number": "12", "rivoli_code": "T001", "insee_code": "98001", "product": "just_fibre",
             "operation_type": "short", "window_end": days[2].isoformat(), **values}
    page = login(app.test_client(), "opuser").get("/operator/appointments/new", query_string=typed)
    assert page.status_code == 200 and words in html.unescape(page.get_data(as_text=True))


@pytest.mark.parametrize("payload, path", [
    ("not json", "_schema"),
    ({"relatedPlace": "x"}, "relatedPlace"),
    ({"relatedPlace": {"streetNr": "abc", "rivoliCode": "T001", "inseeCode": "98001"}, "product": "just_fibre"},
     "relatedPlace.streetNr"),
    ({"relatedPlace": {"streetNr": "12", "rivoliCode": "T001", "inseeCode": "98001"}, "product": "just_fibre",
      "operationType": "building", "requestedTimeSlot": {"validFor": {"endDateTime": 5}}},
     "requestedTimeSlot.validFor.endDateTime"),
    ({"product": "satellite"}, "product"),
])
def test_bad_api_bodies_are_400s_naming_the_field(opuser, payload, path):
    response = opuser.post(f"{URL}/searchTimeSlot", data=payload if isinstance(payload, str) else json.dumps(payload),
                           content_type="application/json")
    assert response.status_code == 400 and path in response.json["message"], response.json
    assert opuser.post(URL, json={**body(date(2020, 1, 6), date(2020, 1, 6)), "timeSlot": {"id": "tomorrow"}}).status_code == 400
    assert opuser.open(f"{URL}/{demo.SEED_REFERENCE}", "PATCH", json={"status": "done"}).status_code == 400
    assert opuser.get(f"{URL}?limit=0").status_code == 400


def test_the_api_is_in_the_openapi_document(app):
    spec = login(app.test_client(), "admin").get("/api/v1/_openapi").json
    assert {"/api/v1/operator/appointment/searchTimeSlot", "/api/v1/operator/appointment",
            "/api/v1/operator/appointment/{reference}"} <= set(spec["paths"])
    assert "TMF646Appointment" in spec["components"]["schemas"]
