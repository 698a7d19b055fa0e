"""Desk E, e-SAV Test: the diagnostics and remote actions run on an access.

Diagnostics come from a `DiagnosticProvider` (OPERATOR_DIAGNOSTIC_PROVIDER). The one
shipped, "simulation", is a network simulator: it reads what the access records
(`resource_state`, and `fault`, which the demo data injects) and answers what the
network would, in the seed's tables (OLT, PON, ONT, box). A real network's provider
implements the same `run()`.

Results are listed for DIAGNOSTIC_KEEP_HOURS (48: "l'historique des diagnostics est
disponible 48h seulement"); the periodic sweep then deletes those that no incident
keeps attached.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional, Protocol

from flask import current_app
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import delete, exists, select

from ...extensions import db
from ...models import Access, Diagnostic, DiagnosticKind, DiagnosticState, ResourceState, incident_diagnostic, utcnow
from ...platform import jobs
from ...platform.refusals import Refused
from ...security import apply_scope


class DiagnosticRefused(Refused):
    """A diagnostic that cannot be sent (unknown test, closed access)."""


#: The rows of each of the seed's tables: (key, label), in the seed's order.
TABLES = {
    "olt": (_l("OLT"), [("card_state", _l("OLT card state")), ("card_type", _l("OLT card type"))]),
    "pon": (_l("PON"), [("port_state", _l("PON port state")), ("ont_olt_link", _l("ONT-OLT link"))]),
    "ont": (_l("ONT"), [
        ("ont_id", _l("ONT id")), ("vendor", _l("ONT vendor")), ("serial", _l("Serial number configured in the OLT")),
        ("provisioned_state", _l("Provisioned state")), ("operational_state", _l("Operational state")),
        ("last_change", _l("Last change of the ONT's state")), ("firmware", _l("Active firmware")),
        ("errors_up", _l("Error rate up")), ("errors_down", _l("Error rate down")),
        ("ont_lb_link", _l("ONT-LB link")), ("negotiation", _l("Negotiation state")),
        ("olt_tx", _l("OLT tx measure")), ("olt_rx", _l("OLT rx measure")),
        ("ont_tx", _l("ONT tx measure")), ("ont_rx", _l("ONT rx measure"))]),
    "box": (_l("Box information"), [("state", _l("Box state")), ("firmware", _l("Firmware version")),
                                    ("mac", _l("Box MAC address"))]),
}
#: Which tables each test fills.
KIND_TABLES = {
    DiagnosticKind.global_: ("olt", "pon", "ont", "box"),
    DiagnosticKind.delc: ("olt", "pon", "ont"),
    DiagnosticKind.unit_tests: ("pon", "ont"),
    DiagnosticKind.box_info: ("box",),
}
#: The seed's four tests, as its form lists them.
TESTS = (DiagnosticKind.global_, DiagnosticKind.delc, DiagnosticKind.unit_tests, DiagnosticKind.box_info)
REMOTE_ACTIONS = {"reboot": _l("Reboot the box"), "reload_config": _l("Reload the box's configuration"),
                  "resync_ont": _l("Resynchronise the ONT")}
#: What the result codes mean ("Diagnostic Code"), for the synthesis.
CODES = {
    "OK": _l("FTTH access OK"),
    "KO_ONT": _l("ONT unreachable: fault pre-localised at the ONT"),
    "KO_PON": _l("No light on the PON: line fault pre-localised on the line"),
    "KO_BOX": _l("Box offline: the ONT answers, the box does not"),
    "DEGRADED_SIGNAL": _l("Optical signal too weak: degraded service"),
    "KO": _l("Access out of order"),
    "DEGRADED": _l("Access degraded"),
    "ACTION_DONE": _l("Remote action done"),
    "ACTION_FAILED": _l("Remote action failed: the box does not answer"),
}


@dataclass
class Result:
    state: DiagnosticState
    code: str
    detail: dict


class DiagnosticProvider(Protocol):
    """Where diagnostics come from: `name` is shown beside the results."""

    name: str

    def run(self, access: Access, kind: DiagnosticKind, action: Optional[str] = None) -> Result:
        ...


class NetworkSimulator:
    """A network that answers from the access's record: `fault` "ont_down", "fiber_cut",
    "box_offline" or "low_signal" (or any other: the resource state decides) gives the
    tables and code the network would."""

    name = "simulation"

    def run(self, access, kind, action=None) -> Result:
        fault = access.fault or {ResourceState.down: "down", ResourceState.degraded: "degraded"}.get(
            access.resource_state)
        if kind == DiagnosticKind.remote_action:
            if fault in ("ont_down", "fiber_cut", "box_offline", "down"):
                return Result(DiagnosticState.failed, "ACTION_FAILED", {"action": action})
            return Result(DiagnosticState.done, "ACTION_DONE", {"action": action})
        tables = self.tables(access, fault)
        code = {None: "OK", "ont_down": "KO_ONT", "fiber_cut": "KO_PON", "box_offline": "KO_BOX",
                "low_signal": "DEGRADED_SIGNAL", "degraded": "DEGRADED"}.get(fault, "KO")
        if kind == DiagnosticKind.box_info and code in ("KO_ONT", "KO_PON"):
            code = "KO_BOX"
        elif kind != DiagnosticKind.global_ and code == "KO_BOX" and "box" not in KIND_TABLES[kind]:
            code = "OK"  # the line tests see a line that works
        return Result(DiagnosticState.done, code, {name: tables[name] for name in KIND_TABLES[kind]})

    @staticmethod
    def tables(access, fault) -> dict:
        serial = access.box_serial or f"HWTC{access.id:08X}"
        line_ok = fault not in ("fiber_cut", "ont_down", "down")
        ont = {
            "ont_id": f"ONT-1-1-5-{10 + access.id % 50}-19", "vendor": "HWTC", "serial": serial,
            "provisioned_state": "OK", "operational_state": "OK" if line_ok else "KO",
            "last_change": (access.opened_on or utcnow().date()).strftime("%d/%m/%y") + " 16:34:56",
            "firmware": "HWTCA31610115", "errors_up": 0, "errors_down": 0 if line_ok else None,
            "ont_lb_link": "OK" if line_ok else "KO", "negotiation": "Gigabit Ethernet" if line_ok else None,
            "olt_tx": 3.4, "olt_rx": -20.7 if line_ok else None, "ont_tx": 2.28 if line_ok else None,
            "ont_rx": -19.36 if line_ok else None,
        }
        if fault == "low_signal":
            ont.update(olt_rx=-29.8, ont_rx=-28.9, errors_down=1250)
        return {
            "olt": {"card_state": "OK", "card_type": "FTTH"},
            "pon": {"port_state": "KO" if fault == "fiber_cut" else "OK", "ont_olt_link": "OK" if line_ok else "KO"},
            "ont": ont,
            "box": {"state": "INACTIF" if fault in ("box_offline", "ont_down", "fiber_cut", "down") else "ACTIF",
                    "firmware": "9.29.65_F5350_Box", "mac": f"D8D7{access.id:08X}"},
        }


PROVIDERS = {"simulation": NetworkSimulator}


def provider() -> DiagnosticProvider:
    name = current_app.config["OPERATOR_DIAGNOSTIC_PROVIDER"]
    return PROVIDERS[name]()


def keep_hours() -> int:
    return current_app.config["DIAGNOSTIC_KEEP_HOURS"]


def access_named(prestation_id) -> Optional[Access]:
    """The access of that prestation id the signed-in person may see, or None."""
    text = str(prestation_id or "").strip().upper()
    if not text or len(text) > 20:
        return None
    return apply_scope(db.session.query(Access), Access).filter(Access.prestation_id == text).one_or_none()


def new_number(moment) -> str:
    """A diagnostic's number, as the seed's "190509-1029-2679560"."""
    return f"{moment:%y%m%d-%H%M}-{secrets.randbelow(10_000_000):07d}"


def run(user, access, kind, action=None) -> Diagnostic:
    """Send a test (`kind` a DiagnosticKind value) or a remote action on the access and
    record its result."""
    try:
        kind = DiagnosticKind(kind)
    except ValueError:
        raise DiagnosticRefused("kind", gettext("Test: choose one of the tests offered.")) from None
    if kind == DiagnosticKind.remote_action and action not in REMOTE_ACTIONS:
        raise DiagnosticRefused("action", gettext("Remote action: choose one of the actions offered."))
    if not access.active:
        raise DiagnosticRefused(None, gettext("Access %(id)s is closed: it can no longer be tested.",
                                              id=access.prestation_id))
    source = provider()
    sent = utcnow()
    result = source.run(access, kind, action if kind == DiagnosticKind.remote_action else None)
    diagnostic = Diagnostic(
        number=new_number(sent), access_id=access.id, organisation_id=access.organisation_id, kind=kind,
        action=action if kind == DiagnosticKind.remote_action else None, provider=source.name, sent_on=sent,
        updated_on=utcnow(), state=result.state, result_code=result.code, synthesis=str(CODES.get(result.code, "")),
        detail=result.detail, requested_by_id=getattr(user, "id", None))
    db.session.add(diagnostic)
    db.session.flush()
    return diagnostic


def recent(access, now=None) -> list:
    """The access's results still listed (sent within DIAGNOSTIC_KEEP_HOURS), newest first."""
    since = (now or utcnow()) - timedelta(hours=keep_hours())
    return (db.session.query(Diagnostic).filter(Diagnostic.access_id == access.id, Diagnostic.sent_on >= since)
            .order_by(Diagnostic.sent_on.desc(), Diagnostic.id.desc()).all())


def latest_tests(access, now=None) -> list:
    """The latest result of each test (not the remote actions), newest first: what a
    filing attaches."""
    seen, latest = set(), []
    for diagnostic in recent(access, now):
        if diagnostic.kind != DiagnosticKind.remote_action and diagnostic.kind not in seen:
            seen.add(diagnostic.kind)
            latest.append(diagnostic)
    return latest


def table_rows(diagnostic) -> list:
    """[(table title, [(label, value)])] of a result, in the seed's order."""
    detail = diagnostic.detail or {}
    return [(title, [(label, detail[name].get(key)) for key, label in rows])
            for name, (title, rows) in TABLES.items() if isinstance(detail.get(name), dict)]


def sweep(now=None) -> int:
    """Delete the results older than DIAGNOSTIC_KEEP_HOURS that no incident keeps."""
    before = (now or utcnow()) - timedelta(hours=keep_hours())
    attached = exists().where(incident_diagnostic.c.diagnostic_id == Diagnostic.id)
    ids = select(Diagnostic.id).where(Diagnostic.sent_on < before, ~attached)
    count = db.session.execute(delete(Diagnostic).where(Diagnostic.id.in_(ids))
                               .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return count


def sweep_diagnostics() -> int:
    """The periodic job."""
    return sweep()


PERIODIC_JOBS = [{"func": sweep_diagnostics, "queue_name": jobs.DEFAULT_QUEUE, "cron": "23 * * * *"}]
