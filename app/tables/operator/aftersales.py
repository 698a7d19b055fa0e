"""Desk E, after-sales (seed 001, "Just Fibre : e-services du parcours SAV"): the
diagnostics and remote actions e-SAV Test runs on an access, and the incidents (and
port 25 requests) e-SAV Signalisation files on it.

A diagnostic's `detail` keeps the seed's result tables as JSON: {"olt": {...}, "pon":
{...}, "ont": {...}, "box": {...}} (app.rules.operator.diagnostics names the keys).
Results are kept 48 hours, then swept. An incident's states follow TM Forum's TMF621
Trouble Ticket; the latest diagnostics of its access are attached when it is filed.
"""
from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext
from sqlalchemy import JSON, Boolean, Column, DateTime, Enum, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import relationship

from ..base import LABELS, Audited, LabelledEnum, state_column, utcnow
from ..platform import Organisation
from .accesses import Access

__all__ = ["DiagnosticKind", "DIAGNOSTIC_KIND_LABELS", "DiagnosticState", "DIAGNOSTIC_STATE_LABELS", "Diagnostic",
           "IncidentKind", "INCIDENT_KIND_LABELS", "IncidentState", "INCIDENT_STATE_LABELS", "LedState",
           "LED_STATE_LABELS", "FaultNature", "FAULT_NATURE_LABELS", "Incident", "incident_diagnostic"]


class DiagnosticKind(LabelledEnum):
    """The seed's tests ("Diagnostic global, Diagnostic DELC, Tests unitaires, Infos
    Box") and the remote actions on the box ("Téléactions")."""

    global_ = "global"
    delc = "delc"
    unit_tests = "unit_tests"
    box_info = "box_info"
    remote_action = "remote_action"


DIAGNOSTIC_KIND_LABELS = LABELS[DiagnosticKind] = {
    DiagnosticKind.global_: lazy_gettext("Global diagnostic"),
    DiagnosticKind.delc: lazy_gettext("DELC diagnostic"),
    DiagnosticKind.unit_tests: lazy_gettext("Unit tests"),
    DiagnosticKind.box_info: lazy_gettext("Box information"),
    DiagnosticKind.remote_action: lazy_gettext("Remote action"),
}


class DiagnosticState(LabelledEnum):
    running = "running"
    done = "done"
    failed = "failed"


DIAGNOSTIC_STATE_LABELS = LABELS[DiagnosticState] = {
    DiagnosticState.running: lazy_gettext("Running"),
    DiagnosticState.done: lazy_gettext("Done"),
    DiagnosticState.failed: lazy_gettext("Failed"),
}


class Diagnostic(Model):
    """One diagnostic or remote action sent on an access ("190509-1029-2679560"):
    `result_code` is the seed's "Diagnostic Code" (OK, or the fault found)."""

    __tablename__ = "diagnostic"
    __table_args__ = (Index("ix_diagnostic_access_sent", "access_id", "sent_on"),
                      Index("ix_diagnostic_sent_on", "sent_on"))

    id = Column(Integer, primary_key=True)
    number = Column(String(30), unique=True, nullable=False)
    access_id = Column(Integer, ForeignKey("access.id", ondelete="CASCADE"), nullable=False)
    organisation_id = Column(Integer, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False,
                             index=True)
    kind = Column(Enum(DiagnosticKind, native_enum=False, length=20, name="diagnostic_kind"), nullable=False)
    action = Column(String(30))  # the remote action's name (reboot…), else None
    service_type = Column(String(20), nullable=False, default="FTTHMB1P")  # "Type prestation"
    provider = Column(String(30), nullable=False)  # "simulation" for the network simulator
    sent_on = Column(DateTime, nullable=False, default=utcnow)
    updated_on = Column(DateTime, nullable=False, default=utcnow)
    state = Column(Enum(DiagnosticState, native_enum=False, length=10, name="diagnostic_state"), nullable=False,
                   default=DiagnosticState.running)
    result_code = Column(String(30))
    synthesis = Column(String(200))
    detail = Column(JSON)
    requested_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))

    access = relationship(Access)
    organisation = relationship(Organisation)
    requested_by = relationship(User)

    @property
    def ok(self) -> bool:
        return self.result_code == "OK"

    def __str__(self):
        return self.number


class IncidentKind(LabelledEnum):
    """What a filing asks: an incident, or to open or close the SMTP port 25."""

    incident = "incident"
    port25_open = "port25_open"
    port25_close = "port25_close"


INCIDENT_KIND_LABELS = LABELS[IncidentKind] = {
    IncidentKind.incident: lazy_gettext("84 - FTTH incident"),
    IncidentKind.port25_open: lazy_gettext("Port 25 opening request"),
    IncidentKind.port25_close: lazy_gettext("Port 25 closing request"),
}


class IncidentState(LabelledEnum):
    """TMF621's trouble ticket states."""

    acknowledged = "acknowledged"
    in_progress = "inProgress"
    pending = "pending"
    held = "held"
    resolved = "resolved"
    closed = "closed"
    rejected = "rejected"
    cancelled = "cancelled"


INCIDENT_STATE_LABELS = LABELS[IncidentState] = {
    IncidentState.acknowledged: lazy_gettext("Acknowledged"),
    IncidentState.in_progress: lazy_gettext("In progress"),
    IncidentState.pending: lazy_gettext("Waiting for the filer"),
    IncidentState.held: lazy_gettext("Held"),
    IncidentState.resolved: lazy_gettext("Resolved"),
    IncidentState.closed: lazy_gettext("Closed"),
    IncidentState.rejected: lazy_gettext("Rejected"),
    IncidentState.cancelled: lazy_gettext("Cancelled"),
}


class LedState(LabelledEnum):
    """A LED of the box or the ONT, as the seed's form offers them."""

    off = "off"
    green_steady = "green_steady"
    green_blinking = "green_blinking"
    red_steady = "red_steady"


LED_STATE_LABELS = LABELS[LedState] = {
    LedState.off: lazy_gettext("LED off"),
    LedState.green_steady: lazy_gettext("LED steady green"),
    LedState.green_blinking: lazy_gettext("LED blinking green"),
    LedState.red_steady: lazy_gettext("LED steady red"),
}


class FaultNature(LabelledEnum):
    interrupted = "interrupted"
    degraded = "degraded"
    intermittent = "intermittent"


FAULT_NATURE_LABELS = LABELS[FaultNature] = {
    FaultNature.interrupted: lazy_gettext("Service interrupted"),
    FaultNature.degraded: lazy_gettext("Service degraded"),
    FaultNature.intermittent: lazy_gettext("Intermittent fault"),
}

incident_diagnostic = Table(
    "incident_diagnostic", Model.metadata,
    Column("incident_id", Integer, ForeignKey("incident.id", ondelete="CASCADE"), primary_key=True),
    Column("diagnostic_id", Integer, ForeignKey("diagnostic.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_incident_diagnostic_diagnostic", "diagnostic_id"),
)


def _led():
    return Column(Enum(LedState, native_enum=False, length=20, name="led_state"))


class Incident(Audited, Model):
    """One filing of e-SAV Signalisation on an access, laid out as the seed's tabbed
    form; `gtr_deadline` is the contractual restoration deadline (UTC), from the
    access's GTR option and the service hours (app.rules.operator.incidents)."""

    __tablename__ = "incident"
    __table_args__ = (Index("ix_incident_access_state", "access_id", "state"),
                      Index("ix_incident_organisation_state", "organisation_id", "state"))

    id = Column(Integer, primary_key=True)
    reference = Column(String(30), unique=True, nullable=False)
    access_id = Column(Integer, ForeignKey("access.id", ondelete="CASCADE"), nullable=False)
    organisation_id = Column(Integer, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False)
    filer_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    kind = Column(Enum(IncidentKind, native_enum=False, length=20, name="incident_kind"), nullable=False,
                  default=IncidentKind.incident)
    state = state_column(IncidentState, "incident_state", default=IncidentState.acknowledged)
    # General information
    faulty_service = Column(String(100), nullable=False)
    filer_reference = Column(String(30))  # "Numéro de signalisation du déposant"
    end_a_contact = Column(String(100))
    end_a_phone = Column(String(20))
    end_a_hours = Column(String(50))
    filer_name = Column(String(100), nullable=False)
    filer_phone = Column(String(20), nullable=False)
    filer_email = Column(String(120))
    filer_mobile = Column(String(20))
    # Additional information
    customer_phone = Column(String(20))
    customer_mobile = Column(String(10))
    weekend_hours = Column(String(50))
    lunch_hours = Column(String(11))  # "hh:mm/hh:mm"
    appointment_needed = Column(Boolean)
    customer_informed = Column(Boolean)
    prelocalised_at_customer = Column(Boolean)
    box_power_led = _led()
    box_dsl_led = _led()
    ont_power_led = _led()
    ont_pon_led = _led()
    # Faults found
    fault_nature = Column(Enum(FaultNature, native_enum=False, length=20, name="fault_nature"))
    ever_worked = Column(Boolean)
    faults = Column(JSON)  # codes of rules.incidents.FAULTS
    description = Column(Text)
    # Forcing despite an OK diagnostic
    forced = Column(Boolean, nullable=False, default=False)
    forcing_reason = Column(Text)
    gtr_deadline = Column(DateTime, info={"scheduled": True})  # ahead of now, by nature

    access = relationship(Access)
    organisation = relationship(Organisation)
    filer = relationship(User, foreign_keys=[filer_id])
    diagnostics = relationship(Diagnostic, secondary=incident_diagnostic, order_by=Diagnostic.sent_on.desc())

    def __str__(self):
        return self.reference
