"""Desk E's after-sales demo: Fibre Rhône Télécom's accesses F00000015… at demo
buildings (the seed's first: "MB FTTH Internet profil 07"), some without fault, some
down or degraded with the fault the network simulator reads, with and without the GTR
option, and one of Alpes Connect's; a few recent diagnostics, and incidents in several
TMF621 states filed by the demo account `opsav` and worked by `wholesale`."""
from datetime import timedelta

from flask import current_app

from ...extensions import db
from ...models import Access, Building, BuildingState, Incident, IncidentState, Offer, ResourceState, utcnow
from ...rules.operator import diagnostics, incidents
from ..platform import organisation
from .accounts import ALPES, FIBRE
from .buildings import SEED_IMB

OK, DEGRADED, DOWN = ResourceState.ok, ResourceState.degraded, ResourceState.down
# prestation id, operator, offer label, GTR option, resource state, fault
ACCESSES = [
    ("F00000015", FIBRE, "MB FTTH Internet profil 07", True, OK, None),
    ("F00000016", FIBRE, "MB FTTH Internet profil 07", False, OK, None),
    ("F00000017", FIBRE, "MB FTTH Internet profil 05", True, DOWN, "ont_down"),
    ("F00000018", FIBRE, "MB FTTH Internet profil 07", False, DOWN, "fiber_cut"),
    ("F00000019", FIBRE, "MB FTTH Internet profil 07", True, DEGRADED, "low_signal"),
    ("F00000020", FIBRE, "MB FTTH Internet profil 05", False, DEGRADED, "box_offline"),
    ("F00000090", ALPES, "MB FTTH Internet profil 07", False, OK, None),
]
# prestation id, request type, the states it went through after "acknowledged", with the comment of each
INCIDENTS = [
    ("F00000017", "incident", []),
    ("F00000018", "incident", [("take", None)]),
    ("F00000019", "incident", [("take", None), ("ask_filer", "Pouvez-vous confirmer l'état du voyant PON ?")]),
    ("F00000020", "incident", [("take", None), ("resolve", "Box réinitialisée à distance.")]),
    ("F00000016", "port25_open", [("take", None), ("resolve", "Port 25 ouvert."), ("close", None)]),
]
FORM = {
    "faulty_service": "MB FTTH Internet profil 07", "filer_name": "MOREL Julien", "filer_phone": "0437447211",
    "filer_email": "support.sav@fibre-rhone.example", "customer_phone": "0478000000", "customer_mobile": "0612000000",
    "lunch_hours": "12:00/14:00", "appointment_needed": "yes", "customer_informed": "yes",
    "prelocalised_at_customer": "no", "box_power_led": "green_steady", "box_dsl_led": "off",
    "ont_power_led": "green_steady", "ont_pon_led": "red_steady", "fault_nature": "interrupted",
    "ever_worked": "yes", "faults": ["ont_fault"], "description": "Plus de service depuis ce matin.",
}


def _accesses():
    offer = db.session.query(Offer).filter_by(code="just-fibre").one()
    buildings = [db.session.query(Building).filter_by(imb_id=SEED_IMB).one()] + (
        db.session.query(Building).filter(Building.state == BuildingState.available, Building.imb_id != SEED_IMB)
        .order_by(Building.id).limit(len(ACCESSES) - 1).all())
    today = utcnow().date()
    made = {}
    for index, (prestation_id, operator, label, gtr, state, fault) in enumerate(ACCESSES):
        building = buildings[index % len(buildings)]
        access = Access(prestation_id=prestation_id, organisation_id=organisation(operator).id,
                        building_id=building.id, line_id=building.lines[0].id if building.lines else None,
                        offer_id=offer.id, offer_label=label, gtr_option=gtr, resource_state=state, fault=fault,
                        box_model="Livebox 5", box_serial=f"HWTC0172{index:04d}D", active=True,
                        opened_on=today - timedelta(days=90 + index * 7))
        db.session.add(access)
        made[prestation_id] = access
    db.session.flush()
    return made


def load():
    if db.session.query(Access.id).filter_by(prestation_id=ACCESSES[0][0]).first():
        yield "desk E after-sales: already there"
        return
    sm = current_app.appbuilder.sm
    filer, agent = sm.find_user(username="opsav"), sm.find_user(username="wholesale")
    accesses = _accesses()
    tested = 0
    for prestation_id in ("F00000015", "F00000017", "F00000019"):
        diagnostics.run(filer, accesses[prestation_id], "global")
        tested += 1
    diagnostics.run(filer, accesses["F00000015"], "remote_action", "reboot")
    now = utcnow()
    for prestation_id, kind, moves in INCIDENTS:
        access = accesses[prestation_id]
        read = incidents.read_form({**FORM, "kind": kind})
        incident = Incident(reference=incidents.new_reference(now) + prestation_id[-2:], access_id=access.id,
                            organisation_id=access.organisation_id, filer_id=filer.id,
                            state=IncidentState.acknowledged, gtr_deadline=incidents.deadline_for(access, now)
                            if kind == "incident" else None, **read)
        incident.diagnostics = diagnostics.latest_tests(access)
        db.session.add(incident)
        db.session.flush()
        incidents.WORKFLOW.record(incident, "file", filer)
        for name, comment in moves:
            transition = incidents.WORKFLOW.transition(name)
            who = agent if transition.roles else filer
            incidents.WORKFLOW.move(incident, name, who, transition.target, comment)
    db.session.commit()
    yield (f"desk E after-sales: {len(ACCESSES)} accesses, {tested + 1} diagnostics, "
           f"{len(INCIDENTS)} incidents")
