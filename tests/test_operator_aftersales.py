"""Desk E, after-sales: e-SAV Test's simulator answers what the access records, its
results swept after 48 hours; e-SAV Signalisation's form refuses bad input naming the
field, needs forcing (with a reason) after an OK diagnostic, files port 25 requests,
attaches the latest diagnostics, computes the GTR deadline; the TMF621 states, who may
move them, the mails to the filer, the API with tokens, the row scope both ways and
two moves at once."""
import html
from datetime import datetime, timedelta

import pytest
import time_machine
from flask import g
from flask_babel import force_locale
from sqlalchemy import select

from app.extensions import db
from app.models import (
    Access,
    Diagnostic,
    EService,
    Incident,
    IncidentKind,
    IncidentState,
    Membership,
    Offer,
    OperatorSubscription,
    Organisation,
    OrganisationKind,
    OutboxMail,
    ResourceState,
    WorkflowEvent,
    utcnow,
)
from app.demo.operator.accounts import FIBRE
from app.rules.operator import diagnostics, incidents

from .helpers import BearerClient, login, member, upload, user
from .test_races import Visitor, burst

OTHER = "Opérateur SAV d'essai"
API = "/api/v1/operator/troubleTicket"
FORM = {
    "kind": "incident", "faulty_service": "MB FTTH Internet profil 07", "filer_name": "MOREL Julien",
    "filer_phone": "0437447211", "filer_email": "", "customer_phone": "0478000000", "customer_mobile": "0612000000",
    "lunch_hours": "12:00/14:00", "appointment_needed": "yes", "customer_informed": "no",
    "prelocalised_at_customer": "no", "box_power_led": "green_steady", "box_dsl_led": "off",
    "ont_power_led": "green_steady", "ont_pon_led": "red_steady", "fault_nature": "interrupted",
    "ever_worked": "yes", "faults": ["ont_fault"], "description": "Plus de service.",
}


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture(scope="module")
def other(app):
    """A second operator subscribing to the after-sales e-services, its admin
    `savother` and its access F99000001."""
    with app.app_context():
        operator = Organisation(name=OTHER, kind=OrganisationKind.operator, city="Lyon", email="sav@essai.example")
        db.session.add(operator)
        db.session.flush()
        for code in ("e-sav-test", "e-sav-signal"):
            service = db.session.scalar(select(EService).where(EService.code == code))
            db.session.add(OperatorSubscription(organisation_id=operator.id, eservice_id=service.id))
        db.session.commit()
        member("savother", OTHER, role="OperatorAdmin")
        _access("F99000001", operator.id)
        yield operator.id
        db.session.query(Access).filter_by(organisation_id=operator.id).delete()
        for model in (OperatorSubscription, Membership):
            db.session.query(model).filter_by(organisation_id=operator.id).delete()
        db.session.delete(db.session.get(Organisation, operator.id))
        db.session.commit()


def _access(prestation_id, organisation_id, fault=None, state=ResourceState.ok, gtr=False):
    access = db.session.query(Access).filter_by(prestation_id="F00000015").one()
    made = Access(prestation_id=prestation_id, organisation_id=organisation_id, building_id=access.building_id,
                  offer_id=access.offer_id, offer_label="MB FTTH Internet profil 07", gtr_option=gtr,
                  resource_state=state, fault=fault, active=True)
    db.session.add(made)
    db.session.commit()
    return made


@pytest.fixture()
def fresh(app):
    """fresh(fault=None, ...) -> the prestation id of a new access of Fibre Rhône
    Télécom, deleted with its diagnostics and incidents afterwards."""
    made = []

    def make(fault=None, state=ResourceState.ok, gtr=False):
        with app.app_context():
            fibre = db.session.scalar(select(Organisation.id).where(Organisation.name == FIBRE))
            prestation_id = f"F990{len(made) + 10:05d}"
            _access(prestation_id, fibre, fault, state, gtr)
            made.append(prestation_id)
            return prestation_id

    yield make
    with app.app_context():
        for prestation_id in made:
            access = access_of(prestation_id)
            for incident in db.session.query(Incident).filter_by(access_id=access.id):
                db.session.query(WorkflowEvent).filter_by(object_type="incident", object_id=incident.id).delete()
                db.session.delete(incident)
            db.session.query(Diagnostic).filter_by(access_id=access.id).delete()
            db.session.delete(access)
        db.session.commit()


def access_of(prestation_id):
    return db.session.query(Access).filter_by(prestation_id=prestation_id).one()


def sav(app):
    return login(app.test_client(), "opsav")


def file_form(client, prestation_id, **changes):
    data = {**FORM, **changes, "access": prestation_id}
    return client.post("/operator/sav/incidents/new", data={k: v for k, v in data.items() if v is not None},
                       content_type="multipart/form-data")


# ---------------------------------------------------------------------------
# e-SAV Test
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("fault, state, code, rows", [
    (None, ResourceState.ok, "OK", {"Etat du port PON": "OK", "Lien ONT-OLT": "OK", "Etat de la box": "ACTIF"}),
    ("ont_down", ResourceState.down, "KO_ONT", {"Lien ONT-OLT": "KO", "Etat opérationnel": "KO"}),
    ("fiber_cut", ResourceState.down, "KO_PON", {"Etat du port PON": "KO"}),
    ("box_offline", ResourceState.degraded, "KO_BOX", {"Etat de la box": "INACTIF", "Lien ONT-OLT": "OK"}),
    ("low_signal", ResourceState.degraded, "DEGRADED_SIGNAL", {"Mesure ONT rx": -28.9}),
])
def test_the_simulator_answers_what_the_access_records(app, fresh, fault, state, code, rows):
    prestation_id = fresh(fault, state)
    client = sav(app)
    shown = page(client.get(f"/operator/sav/test/?access={prestation_id}"))
    assert "MB FTTH Internet profil 07" in shown and "Simulation" in shown
    response = client.post("/operator/sav/test/run", data={"access": prestation_id, "test": "global"})
    assert response.status_code == 302
    with app.app_context():
        diagnostic = db.session.query(Diagnostic).filter_by(access_id=access_of(prestation_id).id).one()
        assert (diagnostic.result_code, diagnostic.provider) == (code, "simulation")
        detail = page(client.get(f"/operator/sav/test/result/{diagnostic.id}"))
        number = diagnostic.number
    for label, value in rows.items():
        assert f'<th scope="row">{label}</th><td>{value}</td>' in detail, label
    listed = page(client.get(f"/operator/sav/test/?access={prestation_id}"))
    assert number in listed and f"<strong>{code}</strong>" in listed


def test_a_remote_action_is_recorded_and_fails_on_a_dead_line(app, fresh):
    alive, dead = fresh(), fresh("ont_down", ResourceState.down)
    client = sav(app)
    for prestation_id in (alive, dead):
        client.post("/operator/sav/test/run", data={"access": prestation_id, "action": "reboot"})
    with app.app_context():
        codes = [db.session.query(Diagnostic.result_code).filter_by(access_id=access_of(p).id).scalar()
                 for p in (alive, dead)]
    assert codes == ["ACTION_DONE", "ACTION_FAILED"]


def test_results_are_kept_48_hours_then_swept(app, fresh):
    prestation_id = fresh()
    with app.app_context():
        access = access_of(prestation_id)
        start = utcnow()
        with time_machine.travel(start - timedelta(hours=49), tick=False):
            old = diagnostics.run(None, access, "delc")
        recent = diagnostics.run(None, access, "box_info")
        db.session.commit()
        old_id, recent_id = old.id, recent.id
        assert [d.id for d in diagnostics.recent(access)] == [recent_id]
        with time_machine.travel(start, tick=False):
            assert diagnostics.sweep() == 1
        assert db.session.get(Diagnostic, old_id) is None and db.session.get(Diagnostic, recent_id) is not None


@pytest.mark.parametrize("asked", ["F00000099", "x" * 300, "'; drop table access; --", "F00000090"])
def test_an_unknown_or_foreign_access_is_not_found(app, asked):
    client = sav(app)
    response = client.get("/operator/sav/test/", query_string={"access": asked})
    assert response.status_code == 200 and 'id="sav-access-error"' in page(response)
    assert client.post("/operator/sav/test/run", data={"access": asked, "test": "global"}).status_code == 404


def test_the_gate_keeps_out_those_not_entitled(app):
    client = login(app.test_client(), "opuser")  # entitled to orders, not to after-sales
    assert client.get("/operator/sav/test/").status_code == 403
    assert client.get("/operator/sav/incidents/list/").status_code == 403


# ---------------------------------------------------------------------------
# e-SAV Signalisation: the form
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("filer_name", ""), ("filer_phone", "04 37 44"), ("filer_email", "pas une adresse"),
    ("customer_mobile", "06123456789"), ("lunch_hours", "midi"), ("appointment_needed", None),
    ("box_dsl_led", "purple"), ("fault_nature", ""), ("faults", ["nope"]), ("description", "x" * 2001),
])
def test_bad_input_is_refused_naming_the_field_and_nothing_is_filed(app, fresh, field, value):
    prestation_id = fresh("ont_down", ResourceState.down)
    response = file_form(sav(app), prestation_id, **{field: value})
    assert response.status_code == 200
    shown = page(response)
    with app.test_request_context(), force_locale(app.config["BABEL_DEFAULT_LOCALE"]):
        label = str(incidents.LABELS[field])
    assert f'id="{field}-error" role="alert">{label}' in shown, field
    assert f'href="#tab-{incidents.tab_of(field)}" aria-current="true"' in shown
    with app.app_context():
        assert not db.session.query(Incident).filter_by(access_id=access_of(prestation_id).id).count()


def test_after_an_ok_diagnostic_filing_needs_forcing_with_a_reason(app, fresh):
    prestation_id = fresh()
    client = sav(app)
    client.post("/operator/sav/test/run", data={"access": prestation_id, "test": ["global", "delc"]})
    refused = page(file_form(client, prestation_id))
    assert 'id="forced-error"' in refused and "OK" in refused
    assert 'id="forcing_reason-error"' in page(file_form(client, prestation_id, forced="yes"))
    response = file_form(client, prestation_id, forced="yes", forcing_reason="Le client n'a plus de service.")
    assert response.status_code == 302
    with app.app_context():
        incident = db.session.query(Incident).filter_by(access_id=access_of(prestation_id).id).one()
        assert incident.forced and incident.forcing_reason == "Le client n'a plus de service."
        assert sorted(d.kind.value for d in incident.diagnostics) == ["delc", "global"]
        assert incident.state is IncidentState.acknowledged and incident.gtr_deadline is not None
        mail = db.session.scalars(select(OutboxMail).where(OutboxMail.template == "operator/incident_filed",
                                                           OutboxMail.body.contains(incident.reference))).one()
        assert mail.recipient == user("opsav").email
    assert "sav-open-incident" in page(client.get(f"/operator/sav/test/?access={prestation_id}"))


def test_a_port_25_request_needs_only_the_general_information(app, fresh):
    prestation_id = fresh()
    general = {name: FORM[name] for name in ("faulty_service", "filer_name", "filer_phone")}
    response = sav(app).post("/operator/sav/incidents/new", data={
        **general, "kind": "port25_open", "access": prestation_id}, content_type="multipart/form-data")
    assert response.status_code == 302
    with app.app_context():
        incident = db.session.query(Incident).filter_by(access_id=access_of(prestation_id).id).one()
        assert incident.kind is IncidentKind.port25_open and incident.gtr_deadline is None


def test_an_attachment_is_kept_with_the_incident(app, fresh):
    prestation_id = fresh("fiber_cut", ResourceState.down)
    data = {**FORM, "access": prestation_id, "attachment": upload()}
    client = sav(app)
    response = client.post("/operator/sav/incidents/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    shown = page(client.get(response.location))
    assert "capture.png" in shown


# ---------------------------------------------------------------------------
# The GTR deadline
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("filed, gtr, due", [
    ("2026-12-04 17:00", True, "2026-12-05 17:00"),  # Friday → Saturday
    ("2026-12-05 17:00", True, "2026-12-07 17:00"),  # Saturday → Monday
    ("2026-12-07 07:30", True, "2026-12-07 18:00"),  # before 8:00: the whole day
    ("2026-12-07 18:30", True, "2026-12-08 18:00"),  # after 18:00: from the next morning
    ("2026-12-06 11:00", True, "2026-12-07 18:00"),  # Sunday
    ("2026-12-07 10:15", True, "2026-12-08 10:15"),
    ("2026-12-24 12:00", True, "2026-12-26 12:00"),  # Christmas excluded
    ("2026-04-30 15:00", True, "2026-05-02 15:00"),  # 1 May excluded
    ("2026-07-13 09:00", True, "2026-07-15 09:00"),  # 14 July: Tuesday excluded
    ("2026-12-04 17:00", False, "2026-12-05 18:00"),  # standard: end of next service day
    ("2026-12-05 09:00", False, "2026-12-07 18:00"),
    ("2026-12-24 09:00", False, "2026-12-26 18:00"),
])
def test_the_gtr_deadline_counts_service_hours(filed, gtr, due):
    parse = lambda text: datetime.strptime(text, "%Y-%m-%d %H:%M")  # noqa: E731
    assert incidents.gtr_deadline(parse(filed), gtr) == parse(due)


# ---------------------------------------------------------------------------
# TMF621: the states, who may move them, the mails, the API
# ---------------------------------------------------------------------------

@pytest.fixture()
def filed(app, fresh):
    """A filed incident's id (on an access down, so no forcing), as opsav files it."""
    prestation_id = fresh("ont_down", ResourceState.down, gtr=True)
    with app.test_request_context():
        login_user = g.user = user("opsav")
        incident = incidents.file(login_user, access_of(prestation_id), FORM)
        db.session.commit()
        return incident.id


def fire(client, pk, name, comment=""):
    return client.post(f"/operator/sav/incidents/transition/{pk}/{name}", data={"comment": comment})


def state_of(app, pk):
    with app.app_context():
        return db.session.get(Incident, pk).state


def test_the_back_office_moves_and_the_filer_answers_closes_or_reopens(app, filed):
    agent, filer = login(app.test_client(), "wholesale"), sav(app)
    fire(filer, filed, "take")
    assert state_of(app, filed) is IncidentState.acknowledged  # not the filer's to take
    for client, name, comment, state in [
            (agent, "take", "", IncidentState.in_progress), (agent, "ask_filer", "Voyant PON ?", IncidentState.pending),
            (filer, "answer", "Rouge fixe.", IncidentState.in_progress), (agent, "hold", "Attente pièce",
                                                                          IncidentState.held),
            (agent, "resume", "", IncidentState.in_progress), (agent, "resolve", "ONT remplacé",
                                                                IncidentState.resolved),
            (filer, "reopen", "Toujours en panne", IncidentState.in_progress),
            (agent, "resolve", "Fibre ressoudée", IncidentState.resolved), (filer, "close", "", IncidentState.closed)]:
        fire(client, filed, name, comment)
        assert state_of(app, filed) is state, name
    with app.app_context():
        reference = db.session.get(Incident, filed).reference
        mails = db.session.scalars(select(OutboxMail.subject).where(
            OutboxMail.template == "operator/incident_changed", OutboxMail.body.contains(reference))).all()
        assert len(mails) == 9
    shown = page(filer.get(f"/operator/sav/incidents/show/{filed}"))
    assert "Toujours en panne" in shown and reference in shown


def test_only_the_filer_side_cancels_and_the_back_office_rejects(app, filed):
    agent, filer = login(app.test_client(), "wholesale"), sav(app)
    fire(agent, filed, "cancel")
    assert state_of(app, filed) is IncidentState.acknowledged
    fire(filer, filed, "reject", "non")
    assert state_of(app, filed) is IncidentState.acknowledged
    fire(filer, filed, "cancel")
    assert state_of(app, filed) is IncidentState.cancelled


def test_the_api_creates_with_a_token_and_moves_the_status(app, fresh):
    prestation_id = fresh("fiber_cut", ResourceState.down)
    filer, agent = BearerClient(app, "opsav"), BearerClient(app, "wholesale")
    characteristic = [{"name": name, "value": value} for name, value in FORM.items()
                      if name not in ("kind", "description")]
    body = {"ticketType": "incident", "description": "Plus de service", "externalId": "OP-42",
            "relatedEntity": [{"id": prestation_id, "@referredType": "Access"}], "characteristic": characteristic}
    bad = filer.post(API, json={**body, "characteristic": [{"name": "lunch_hours", "value": "midi"}]})
    assert bad.status_code == 400 and list(bad.json["message"]) == ["characteristic.filer_name"]
    created = filer.post(API, json=body)
    assert created.status_code == 201, created.json
    ticket = created.json
    assert (ticket["status"], ticket["externalId"], ticket["ticketType"]) == ("acknowledged", "OP-42", "incident")
    assert ticket["expectedResolutionDate"].endswith("Z")
    reference = ticket["id"]
    assert filer.open(f"{API}/{reference}", "PATCH", json={"status": "inProgress"}).status_code == 409
    moved = agent.open(f"{API}/{reference}", "PATCH", json={"status": "inProgress"})
    assert moved.status_code == 200 and moved.json["status"] == "inProgress"
    assert agent.open(f"{API}/{reference}", "PATCH", json={"status": "resolved"}).status_code == 409  # reason
    resolved = agent.open(f"{API}/{reference}", "PATCH", json={"status": "resolved", "statusChangeReason": "Soudure"})
    assert resolved.json["status"] == "resolved"
    assert [c["status"] for c in filer.get(f"{API}/{reference}").json["statusChange"]] == ["inProgress", "resolved"]
    listed = filer.get(API, query_string={"status": "resolved"}).json
    assert reference in [item["id"] for item in listed] and all(item["status"] == "resolved" for item in listed)
    for junk in ("nope", "", None):
        assert agent.open(f"{API}/{reference}", "PATCH", json={"status": junk}).status_code == 400
    assert filer.post(API, data="[]", content_type="application/json").status_code == 400
    assert filer.post(API, json={"relatedEntity": "F"}).status_code == 400
    assert filer.get(API, query_string={"status": "open"}).status_code == 400
    assert filer.get(API, query_string={"limit": "x"}).status_code == 400
    for junk in ({"a": 1}, ["x"], 12345678901234567890, True):
        for name in ("filer_name", "appointment_needed", "box_power_led", "fault_nature", "faults", "forced"):
            answer = filer.post(API, json={**body, "characteristic": characteristic + [{"name": name, "value": junk}]})
            assert answer.status_code in (201, 400, 422), (name, junk, answer.json)


def test_another_operator_sees_neither_the_accesses_nor_the_incidents(app, other, filed):
    with app.app_context():
        reference = db.session.get(Incident, filed).reference
        prestation_id = db.session.get(Incident, filed).access.prestation_id
    client = login(app.test_client(), "savother")
    assert 'id="sav-access-error"' in page(client.get(f"/operator/sav/test/?access={prestation_id}"))
    assert reference not in page(client.get("/operator/sav/incidents/list/"))
    assert client.get(f"/operator/sav/incidents/show/{filed}").status_code == 404
    assert fire(client, filed, "cancel").status_code == 404
    token = BearerClient(app, "savother")
    assert token.get(f"{API}/{reference}").status_code == 404
    assert reference not in [item["id"] for item in token.get(API).json]
    assert token.post(API, json={"relatedEntity": [{"id": prestation_id}]}).status_code == 400
    own = page(client.get("/operator/sav/test/?access=F99000001"))
    assert "MB FTTH Internet profil 07" in own
    assert reference in page(login(app.test_client(), "wholesale").get("/operator/sav/incidents/list/"))


def test_two_agents_taking_at_once_give_one_move(app, live_url, filed):
    people = [Visitor(live_url, "wholesale"), Visitor(live_url, "wholesale")]
    path = f"/operator/sav/incidents/transition/{filed}/take"
    results = burst([lambda who=people[i % 2]: who.post_and_follow(path, {"comment": ""}) for i in range(6)])
    assert all(status == 302 for status, _ in results)
    with app.app_context():
        taken = db.session.scalars(select(WorkflowEvent).where(
            WorkflowEvent.object_type == "incident", WorkflowEvent.object_id == filed,
            WorkflowEvent.transition == "take")).all()
        assert len(taken) == 1 and db.session.get(Incident, filed).state is IncidentState.in_progress


@pytest.mark.parametrize("path", [
    "/operator/sav/test/result/999999999", "/operator/sav/incidents/show/999999999",
    "/operator/sav/incidents/new?access=%00%ff", "/operator/sav/incidents/show/abc",
])
def test_junk_never_gives_a_server_error(app, path):
    assert sav(app).get(path).status_code in (200, 400, 404)


def test_the_demo_has_accesses_with_and_without_faults_and_incidents_in_several_states(app):
    with app.app_context():
        faults = set(db.session.scalars(select(Access.fault).where(Access.prestation_id.like("F000000%"))))
        assert {None, "ont_down", "fiber_cut", "low_signal", "box_offline"} <= faults
        states = set(db.session.scalars(select(Incident.state)))
        assert len(states) >= 4
        assert db.session.query(Offer).filter_by(code="just-fibre").count() == 1
