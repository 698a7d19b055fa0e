"""Desk E, e-SAV Signalisation: filing an incident (or a port 25 request) on an access,
its contractual restoration deadline (GTR) and its life as a TMF621 trouble ticket.

The form is the seed's, in three tabs plus an attachment; `read_form()` checks every
field and names the one at fault. When the latest diagnostic of the access is OK, an
incident needs forcing ("Utilisation du droit de Forçage (si diagnostic OK)") with a
reason. The latest diagnostics (within 48 hours) are attached to the filing.

Restoration deadline: with "Option GTR 10 heures HO", 10 working hours counted in the
service hours, Monday to Saturday 8:00–18:00 (French public holidays excluded); without
it, the standard commitment: by the end (18:00) of the next service day after the
filing's day (a filing on a Friday is due Saturday at 18:00, on a Saturday Monday).

States (TMF621): acknowledged → inProgress ↔ pending (waiting for the filer) and held →
resolved → closed, or back to inProgress (reopened by the filer); rejected by the
wholesale back office; cancelled by the filer. The filer is mailed on every change.
"""
from __future__ import annotations

import re
import secrets
from datetime import datetime, time, timedelta

from flask import url_for
from flask_babel import gettext, lazy_gettext as _l

from ...access.operator import INCIDENTS, entitled_criterion
from ...extensions import db
from ...models import (
    FaultNature,
    Incident,
    IncidentKind,
    IncidentState,
    LedState,
    utcnow,
)
from ...platform import clock, files, notifications
from ...platform.refusals import Refused
from ...platform.workflow import Transition, Workflow
from ...security import WHOLESALE_AGENT, role_names, row_predicate
from . import diagnostics

OPEN_STATES = (IncidentState.acknowledged, IncidentState.in_progress, IncidentState.pending, IncidentState.held)
OPENING, CLOSING = time(8), time(18)
GTR_HOURS = 10


class IncidentRefused(Refused):
    """A filing refused; `field` names the form field at fault."""


# ---------------------------------------------------------------------------
# The restoration deadline
# ---------------------------------------------------------------------------


def is_service_day(day) -> bool:
    """Monday to Saturday, French public holidays excluded."""
    return clock.is_working_day(day, range(6))


def next_opening(moment: datetime) -> datetime:
    """The moment itself when within service hours, else the next 8:00 of a service day."""
    day = moment.date()
    if is_service_day(day) and OPENING <= moment.time() < CLOSING:
        return moment
    if is_service_day(day) and moment.time() < OPENING:
        return datetime.combine(day, OPENING)
    day += timedelta(days=1)
    while not is_service_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, OPENING)


def gtr_deadline(filed: datetime, gtr_option: bool) -> datetime:
    """The restoration deadline of a filing at local time `filed` (naive): see the
    module's docstring."""
    if not gtr_option:
        day = filed.date() + timedelta(days=1)
        while not is_service_day(day):
            day += timedelta(days=1)
        return datetime.combine(day, CLOSING)
    left = timedelta(hours=GTR_HOURS)
    current = next_opening(filed)
    while True:
        available = datetime.combine(current.date(), CLOSING) - current
        if left <= available:
            return current + left
        left -= available
        current = next_opening(datetime.combine(current.date(), CLOSING))


def deadline_for(access, filed_utc) -> datetime:
    """The deadline (UTC, naive) of a filing on `access` at `filed_utc` (UTC, naive)."""
    local = clock.LocalMoments().one(filed_utc) if filed_utc.tzinfo is None else filed_utc
    local = local.replace(tzinfo=None)
    return clock.to_utc(gtr_deadline(local, bool(access.gtr_option))).replace(tzinfo=None)


# ---------------------------------------------------------------------------
# The form
# ---------------------------------------------------------------------------

#: The seed's "Défauts constatés" (code: label).
FAULTS = {
    "session_inactive": _l("FTTH access OK - inactive session (U1)"),
    "ont_fault": _l("Fault pre-localised at the ONT (U1)"),
    "line_fault": _l("Line fault pre-localised on the line (U1)"),
    "internet": _l("Internet problem (U1)"),
    "dns": _l("DNS resolution problem (U1)"),
    "authentication": _l("Authentication problem (U1)"),
    "blocked_flow": _l("Blocked flow (U1)"),
}
#: Each field's label, as the seed's form names it.
LABELS = {
    "kind": _l("Request type"), "faulty_service": _l("Faulty service"),
    "filer_reference": _l("Filer's incident number"), "end_a_contact": _l("End A contact"),
    "end_a_phone": _l("End A phone"), "end_a_hours": _l("End A hours"), "filer_name": _l("Filer's name"),
    "filer_phone": _l("Filer's phone"), "filer_email": _l("Filer's email"), "filer_mobile": _l("Filer's mobile"),
    "customer_phone": _l("End customer's phone"), "customer_mobile": _l("End customer's mobile"),
    "weekend_hours": _l("Weekend hours"), "lunch_hours": _l("Lunchtime access hours"),
    "appointment_needed": _l("Does access to the site need an appointment?"),
    "customer_informed": _l("Is the customer told a technician may visit?"),
    "prelocalised_at_customer": _l("Did pre-localisation place the fault at the customer's?"),
    "box_power_led": _l("Box: power LED"), "box_dsl_led": _l("Box: DSL LED"),
    "ont_power_led": _l("ONT: power LED"), "ont_pon_led": _l("ONT: PON LED"),
    "fault_nature": _l("Nature of the fault"), "ever_worked": _l("Has the service ever worked?"),
    "faults": _l("Faults found"), "description": _l("Other fault / further description"),
    "forced": _l("Forcing the filing"), "forcing_reason": _l("Reason for forcing"),
    "attachment": _l("Attachment"),
}
#: The tabs and their fields (the form's layout, and where a refusal sends the person).
TABS = {
    "general": (_l("General information"), ("kind", "faulty_service", "filer_reference", "end_a_contact",
                                            "end_a_phone", "end_a_hours", "filer_name", "filer_phone",
                                            "filer_email", "filer_mobile")),
    "additional": (_l("Additional information"), (
        "customer_phone", "customer_mobile", "weekend_hours", "lunch_hours", "appointment_needed",
        "customer_informed", "prelocalised_at_customer", "box_power_led", "box_dsl_led", "ont_power_led",
        "ont_pon_led", "attachment")),
    "faults": (_l("Faults found"), ("fault_nature", "ever_worked", "faults", "description", "forced",
                                    "forcing_reason")),
}
LEDS = ("box_power_led", "box_dsl_led", "ont_power_led", "ont_pon_led")
YES_NO = ("appointment_needed", "customer_informed", "prelocalised_at_customer", "ever_worked")
#: Text fields: (maximum length, digits only, required for an incident, required for any request).
TEXTS = {
    "faulty_service": (100, False, True, True), "filer_reference": (30, False, False, False),
    "end_a_contact": (100, False, False, False), "end_a_phone": (20, True, False, False),
    "end_a_hours": (50, False, False, False), "filer_name": (100, False, True, True),
    "filer_phone": (20, True, True, True), "filer_email": (120, False, False, False),
    "filer_mobile": (10, True, False, False), "customer_phone": (20, True, True, False),
    "customer_mobile": (10, True, True, False), "weekend_hours": (50, False, False, False),
    "lunch_hours": (11, False, True, False), "description": (2000, False, False, False),
    "forcing_reason": (500, False, False, False),
}
LUNCH = re.compile(r"^([01]\d|2[0-3]):[0-5]\d/([01]\d|2[0-3]):[0-5]\d$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def tab_of(field) -> str:
    return next((name for name, (_, fields) in TABS.items() if field in fields), "general")


def _refuse(field, problem):
    raise IncidentRefused(field, gettext("%(field)s: %(problem)s", field=LABELS.get(field, field), problem=problem))


def _yes_no(value):
    if not isinstance(value, (str, bool)):
        return None
    return {"yes": True, "no": False, "true": True, "false": False, True: True, False: False}.get(
        value.lower() if isinstance(value, str) else value)


def read_form(values: dict) -> dict:
    """The filing's columns from the form's values (texts, "yes"/"no", codes; `faults`
    a list of codes), or IncidentRefused naming the first field at fault."""
    try:
        kind = IncidentKind(values.get("kind") or "incident")
    except (ValueError, TypeError):
        _refuse("kind", gettext("choose one of the types offered."))
    incident = kind == IncidentKind.incident
    read = {"kind": kind}
    for name, (length, digits, for_incident, always) in TEXTS.items():
        value = values.get(name)
        if value is not None and (not isinstance(value, (str, int)) or isinstance(value, bool)):
            _refuse(name, gettext("a text is expected."))
        value = str(value if value is not None else "").strip()
        if not value and (always or (incident and for_incident)):
            _refuse(name, gettext("this field is required."))
        if len(value) > length:
            _refuse(name, gettext("at most %(n)d characters.", n=length))
        if value and digits and not value.isdigit():
            _refuse(name, gettext("digits only."))
        read[name] = value or None
    if read["filer_email"] and not EMAIL.match(read["filer_email"]):
        _refuse("filer_email", gettext("this is not an email address."))
    if read["lunch_hours"] and not LUNCH.match(read["lunch_hours"]):
        _refuse("lunch_hours", gettext("the format is hh:mm/hh:mm (e.g. 12:00/14:00)."))
    for name in YES_NO:
        answer = _yes_no(values.get(name)) if values.get(name) not in (None, "") else None
        if values.get(name) not in (None, "") and answer is None:
            _refuse(name, gettext("answer yes or no."))
        if answer is None and incident and name != "customer_informed":
            _refuse(name, gettext("answer yes or no."))
        read[name] = answer
    for name in LEDS:
        value = values.get(name) or None
        if value is not None and (not isinstance(value, str) or value not in LedState.__members__):
            _refuse(name, gettext("choose one of the states offered."))
        if value is None and incident:
            _refuse(name, gettext("choose one of the states offered."))
        read[name] = LedState[value] if value else None
    nature = values.get("fault_nature") or None
    if nature is not None and (not isinstance(nature, str) or nature not in FaultNature.__members__):
        _refuse("fault_nature", gettext("choose one of the natures offered."))
    if nature is None and incident:
        _refuse("fault_nature", gettext("this field is required."))
    read["fault_nature"] = FaultNature[nature] if nature else None
    faults = values.get("faults") or []
    if isinstance(faults, str):
        faults = [faults]
    if not isinstance(faults, list) or any(not isinstance(code, str) or code not in FAULTS for code in faults):
        _refuse("faults", gettext("choose among the faults offered."))
    if incident and not faults and not read["description"]:
        _refuse("faults", gettext("tick at least one fault, or describe it."))
    read["faults"] = list(dict.fromkeys(faults)) if incident else []
    forced = _yes_no(values.get("forced")) if values.get("forced") not in (None, "") else False
    if forced is None:
        _refuse("forced", gettext("answer yes or no."))
    read["forced"] = bool(forced) and incident
    if read["forced"] and not read["forcing_reason"]:
        _refuse("forcing_reason", gettext("a reason is required to force the filing."))
    if not read["forced"]:
        read["forcing_reason"] = None
    if not incident:
        for name in ("customer_phone", "customer_mobile", "weekend_hours", "lunch_hours", "description", *YES_NO,
                     *LEDS, "fault_nature"):
            read[name] = None
    return read


def has_open_incident(access) -> bool:
    """"Existence d'au moins une signalisation en cours"."""
    return db.session.query(Incident.id).filter(Incident.access_id == access.id,
                                                Incident.state.in_(OPEN_STATES)).first() is not None


def new_reference(moment) -> str:
    return f"SIG-{moment:%y%m%d}-{secrets.token_hex(3).upper()}"


def file(user, access, values: dict, upload=None) -> Incident:
    """File an incident or a port 25 request on `access` (one the person may see):
    checked, its latest diagnostics attached, its deadline set, the filer mailed. The
    faulty service is the access's offer unless the filer names it."""
    read = read_form({**values, "faulty_service": values.get("faulty_service") or access.offer_label})
    if not access.active:
        raise IncidentRefused(None, gettext("Access %(id)s is closed: nothing can be filed on it.",
                                            id=access.prestation_id))
    latest = diagnostics.latest_tests(access)
    if read["kind"] == IncidentKind.incident and latest and latest[0].ok and not read["forced"]:
        _refuse("forced", gettext("the latest diagnostic (%(number)s) is OK: force the filing, with a reason, to file "
                "it anyway.", number=latest[0].number))
    now = utcnow()
    incident = Incident(reference=new_reference(now), access_id=access.id, organisation_id=access.organisation_id,
                        filer_id=getattr(user, "id", None), state=IncidentState.acknowledged,
                        gtr_deadline=deadline_for(access, now) if read["kind"] == IncidentKind.incident else None,
                        **read)
    incident.diagnostics = latest
    db.session.add(incident)
    db.session.flush()
    if upload is not None and getattr(upload, "filename", None):
        files.save_upload(upload, incident, user, field_label=LABELS["attachment"])
    WORKFLOW.record(incident, "file", user, comment=read["forcing_reason"])
    recipients, template, context, path = _message(incident, "operator/incident_filed")
    notifications.notify(recipients, template, context, link=path)
    return incident


# ---------------------------------------------------------------------------
# The workflow
# ---------------------------------------------------------------------------

#: The filer's side: people of the incident's operator entitled to e-SAV Signalisation.
filer_side = row_predicate(Incident, lambda viewer: entitled_criterion(viewer, INCIDENTS, Incident.organisation_id))


def _filer(user, item) -> bool:
    return WHOLESALE_AGENT not in role_names(user) and filer_side(user, item)


def link(incident) -> str:
    return url_for("IncidentView.show", pk=incident.id)


def _message(incident, template, event=None):
    context = {"reference": incident.reference, "access": incident.access.prestation_id,
               "state": str(incident.state), "kind": str(incident.kind),
               "comment": getattr(event, "comment", None), "deadline": incident.gtr_deadline}
    return [incident.filer, incident.filer_email], template, context, link(incident)


def _notify(item, event):
    return _message(item, "operator/incident_changed", event)


S = IncidentState
WORKFLOW = Workflow(Incident, states=IncidentState, final_states=(S.closed, S.rejected, S.cancelled), transitions=[
    Transition("take", _l("Take in charge"), (S.acknowledged,), S.in_progress, roles=(WHOLESALE_AGENT,),
               notify=_notify, icon="fa-play", done=_l("taken this incident in charge")),
    Transition("ask_filer", _l("Ask the filer"), (S.in_progress,), S.pending, roles=(WHOLESALE_AGENT,),
               comment_required=True, notify=_notify, icon="fa-question",
               done=_l("asked the filer about this incident")),
    Transition("answer", _l("Answer"), (S.pending,), S.in_progress, allowed=_filer, comment_required=True,
               notify=_notify, icon="fa-reply", done=_l("answered on this incident")),
    Transition("hold", _l("Hold"), (S.in_progress,), S.held, roles=(WHOLESALE_AGENT,), comment_required=True,
               notify=_notify, icon="fa-pause", done=_l("held this incident")),
    Transition("resume", _l("Resume"), (S.held,), S.in_progress, roles=(WHOLESALE_AGENT,), notify=_notify,
               icon="fa-play", done=_l("resumed this incident")),
    Transition("resolve", _l("Resolve"), (S.in_progress,), S.resolved, roles=(WHOLESALE_AGENT,),
               comment_required=True, notify=_notify, icon="fa-check", done=_l("resolved this incident")),
    Transition("reject", _l("Reject"), (S.acknowledged, S.in_progress), S.rejected, roles=(WHOLESALE_AGENT,),
               comment_required=True, notify=_notify, icon="fa-ban", done=_l("rejected this incident")),
    Transition("close", _l("Close the incident"), (S.resolved,), S.closed, allowed=_filer, notify=_notify, icon="fa-lock",
               done=_l("closed this incident")),
    Transition("reopen", _l("Reopen"), (S.resolved,), S.in_progress, allowed=_filer, comment_required=True,
               notify=_notify, icon="fa-undo", done=_l("reopened this incident")),
    Transition("cancel", _l("Cancel"), OPEN_STATES, S.cancelled, allowed=_filer, notify=_notify,
               icon="fa-times", done=_l("cancelled this incident")),
], event_labels={"file": _l("Filed"), "reopen": _l("Reopened")})


def transition_to(item, target, user):
    """The transition that takes `item` to state `target` that `user` may fire (the
    API's PATCH of the status), or None."""
    for transition in WORKFLOW.transitions:
        if transition.target == target and WORKFLOW.state_of(item) in transition.sources:
            roles = role_names(user)
            if "Admin" in roles or roles.intersection(transition.roles) or (
                    transition.allowed is not None and transition.allowed(user, item)):
                return transition
    return None

