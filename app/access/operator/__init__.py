"""Desk E, operator e-services: an operator's accounts see what their entitlements open.

Two gates, one after the other:

* the role: OperatorAdmin and OperatorUser hold the desk's screens and API (FAB
  permissions, granted below);
* the entitlement: each screen and API operation names the e-service it belongs to
  (`CERTIFICATES`, `ELIGIBILITY`…) and opens only for a person entitled to it. An
  OperatorAdmin is entitled to every e-service their operator subscribes to; an
  OperatorUser to those the admin ticked, among them; platform Admins to all.

Rows follow the same criteria (a rule is written once): a certificate is seen by its
operator's admin and the accounts ticked for "Mes certificats numériques"; buildings
and offers, shared reference data, by whoever is entitled to eligibility.
"""
from types import MappingProxyType

from sqlalchemy import exists, false, or_, select, true

from ...extensions import db
from ...platform.recent import RecentAnswers, for_this_request
from ...models import (
    Access,
    Appointment,
    Building,
    BuildingLine,
    BuildingStructure,
    Certificate,
    CertificateAlert,
    CertificateDownload,
    Diagnostic,
    EligibilityRule,
    Entitlement,
    EService,
    Incident,
    Membership,
    Offer,
    OperatorAccount,
    OperatorSubscription,
    Order,
    Organisation,
    OrganisationKind,
)
from ...security import (
    OPERATOR_ADMIN,
    OPERATOR_USER,
    WHOLESALE_AGENT,
    Viewer,
    grant,
    grants,
    hands_out,
    row_predicate,
    scope,
    viewer_of,
)

# The e-services the code gates on (EService.code); the rest of the catalogue is
# listed and ticked but opens no Guichet screen yet.
CERTIFICATES = "certificates"
ELIGIBILITY = "eligibility"
APPOINTMENTS = "e-rdv"
ORDERS = "e-just-fibre"
DIAGNOSTICS = "e-sav-test"
INCIDENTS = "e-sav-signal"
#: The e-services whose screens the wholesale operator's back office works, for every
#: operator (it is entitled to them without subscribing: the gate opens; the rows are
#: every operator's, `entitled_to_any`; what it may do there is the workflows').
BACK_OFFICE = frozenset((APPOINTMENTS, ORDERS, DIAGNOSTICS, INCIDENTS))

# Every operator account: the desk's home and the screens its entitlements open.
USE = grants("OperatorView", ("can_home",)) + grants("Operator", ("menu_access",)) + grants(
    "OperatorHome", ("menu_access",))
grant((OPERATOR_ADMIN, OPERATOR_USER, WHOLESALE_AGENT), USE)

# Accounts and their e-services ("Gestion des droits", app/views/operator/accounts.py):
# the operator's admin alone, who creates its staff's accounts with their role.
MANAGE_ACCOUNTS = grants("OperatorAccounts", ("can_list", "can_add", "can_edit", "can_deactivate",
                                              "can_delete")) + grants("OperatorAccountList", ("menu_access",))
grant(OPERATOR_ADMIN, MANAGE_ACCOUNTS)
hands_out(OPERATOR_ADMIN, (OPERATOR_USER,))
# "Mes certificats numériques": the grid, a certificate's page, its file and the API,
# for every operator account (the CERTIFICATES entitlement then decides); the
# downloads' trace for the operator's admin. Publishing and deleting are the staff's.
grant((OPERATOR_ADMIN, OPERATOR_USER),
      grants("CertificateView", ("can_list", "can_show", "can_get_file", "can_export"))
      + grants("CertificateApi", ("can_get", "can_info", "can_get_file"))
      + grants("Certificates", ("menu_access",)))
grant(OPERATOR_ADMIN, grants("CertificateView", ("can_downloads",)))
# Eligibility: the search, the building sheet and the TMF645 API for every operator
# account; each opens only to those entitled to ELIGIBILITY (views/operator/common.py).
ELIGIBILITY_USE = grants("EligibilityView", ("can_search", "can_building")) + grants(
    "Eligibility", ("menu_access",)) + grants("ServiceQualificationApi", ("can_qualify",))
grant((OPERATOR_ADMIN, OPERATOR_USER), ELIGIBILITY_USE)


def operator_ids(viewer: Viewer) -> frozenset:
    """The operators the viewer is a member of."""
    if viewer.user_id is None:
        return frozenset()
    return for_this_request("operator_ids", viewer.user_id, lambda: frozenset(db.session.scalars(
        select(Organisation.id).join(Membership, Membership.organisation_id == Organisation.id)
        .where(Membership.user_id == viewer.user_id, Organisation.kind == OrganisationKind.operator))))


def administered_operator_ids(viewer: Viewer) -> frozenset:
    """The operators the viewer administers (OperatorAdmin)."""
    return operator_ids(viewer) if OPERATOR_ADMIN in viewer.roles else frozenset()


def entitled_criterion(viewer: Viewer, code: str, organisation_column):
    """SQL: the viewer is entitled to e-service `code` within the operator in
    `organisation_column`; None when they are entitled everywhere (Admin). A plain
    list of operators, from the entitlements the gate reads (`_entitlements`)."""
    if viewer.is_admin:
        return None
    if viewer.user_id is None:
        return false()
    operators = _entitlements(viewer).get(code)
    return organisation_column.in_(sorted(operators)) if operators else false()


#: Each account's entitlements, read once per few seconds (every desk E call asks them).
_RECENT_ENTITLEMENTS = RecentAnswers(
    (EService.__tablename__, OperatorSubscription.__tablename__, Entitlement.__tablename__,
     Organisation.__tablename__, Membership.__tablename__))


#: Every e-service code (what a platform Admin may use), read once per few seconds.
_RECENT_CODES = RecentAnswers((EService.__tablename__,), size=1)


def _entitlements(viewer: Viewer) -> dict:
    """{e-service code: the operators where an operator's account may use it}: the
    e-services that the viewer's operators subscribe to, all of them where the viewer
    administers the operator, else those ticked for them."""
    administers = OPERATOR_ADMIN in viewer.roles
    return _RECENT_ENTITLEMENTS.get((viewer.user_id, administers),
                                    lambda: _read_entitlements(viewer.user_id, administers))


def _read_entitlements(user_id, administers) -> dict:
    ticked = exists().where(Entitlement.user_id == user_id,
                            Entitlement.organisation_id == OperatorSubscription.organisation_id,
                            Entitlement.eservice_id == OperatorSubscription.eservice_id)
    found = {}
    for code, operator in db.session.execute(
            select(EService.code, OperatorSubscription.organisation_id)
            .join(OperatorSubscription, OperatorSubscription.eservice_id == EService.id)
            .join(Organisation, Organisation.id == OperatorSubscription.organisation_id)
            .join(Membership, Membership.organisation_id == Organisation.id)
            .where(Membership.user_id == user_id, Organisation.kind == OrganisationKind.operator,
                   true() if administers else ticked)):
        found.setdefault(code, set()).add(operator)
    return MappingProxyType({code: frozenset(ids) for code, ids in found.items()})


def entitled_codes(viewer: Viewer) -> frozenset:
    """The e-service codes the viewer may use in at least one of their operators."""
    if viewer.is_admin:
        return _RECENT_CODES.get("all", lambda: frozenset(db.session.scalars(select(EService.code))))
    if viewer.user_id is None:
        return frozenset()
    if WHOLESALE_AGENT in viewer.roles:
        return BACK_OFFICE
    return frozenset(_entitlements(viewer))


def entitled_operator_ids(viewer: Viewer, code: str):
    """The operators where the viewer may use e-service `code`; None for every operator
    (platform Admins; the back office for the e-services it works)."""
    if viewer.is_admin or (WHOLESALE_AGENT in viewer.roles and code in BACK_OFFICE):
        return None
    if viewer.user_id is None:
        return frozenset()
    return _entitlements(viewer).get(code, frozenset())


def is_entitled(user, code: str) -> bool:
    """Whether a person may use e-service `code` (in at least one of their operators)."""
    return code in entitled_codes(viewer_of(user))


def entitled_to_any(codes, organisation_column):
    """A row scope: the operator's rows for those entitled to one of the e-services
    `codes` there; every row for the wholesale operator's back office, who works them."""
    def rule(viewer: Viewer):
        if WHOLESALE_AGENT in viewer.roles:
            return None
        criteria = [entitled_criterion(viewer, code, organisation_column) for code in codes]
        return None if any(criterion is None for criterion in criteria) else or_(*criteria)
    return rule


def visible_certificates(viewer: Viewer):
    return entitled_criterion(viewer, CERTIFICATES, Certificate.organisation_id)


def eligibility_reference(viewer: Viewer):
    """Buildings and offers are shared reference data: every row for the entitled."""
    return None if ELIGIBILITY in entitled_codes(viewer) else false()


def of_administered_operators(column):
    def rule(viewer: Viewer):
        administered = administered_operator_ids(viewer)
        own = column.table.c.user_id == viewer.user_id if viewer.user_id else false()
        return or_(column.in_(list(administered)), own) if administered else own
    return rule


scope(EService, lambda viewer: None)
scope(OperatorSubscription, lambda viewer: OperatorSubscription.organisation_id.in_(list(operator_ids(viewer)))
      if operator_ids(viewer) else false())
scope(OperatorAccount, of_administered_operators(OperatorAccount.organisation_id))
scope(Entitlement, of_administered_operators(Entitlement.organisation_id))
scope(Certificate, visible_certificates)
scope(CertificateDownload, lambda viewer: or_(
    CertificateDownload.user_id == viewer.user_id,
    CertificateDownload.certificate_id.in_(select(Certificate.id).where(
        Certificate.organisation_id.in_(list(administered_operator_ids(viewer)))))) if viewer.user_id else false())
scope(CertificateAlert, lambda viewer: CertificateAlert.certificate_id.in_(select(Certificate.id).where(
    Certificate.organisation_id.in_(list(administered_operator_ids(viewer))))))
scope(Appointment, entitled_to_any((APPOINTMENTS, ORDERS), Appointment.organisation_id))
scope(Access, entitled_to_any((ORDERS, DIAGNOSTICS, INCIDENTS), Access.organisation_id))
for _reference in (Building, BuildingStructure, BuildingLine, Offer, EligibilityRule):
    scope(_reference, eligibility_reference)

#: may_see_certificate(user, certificate): the certificate's operator admin or a ticked account.
may_see_certificate = row_predicate(Certificate, visible_certificates)

# --- e-RDV, technician appointments (app/views/operator/appointments.py) -------------
# The form, the slots, the appointments' grid and page and the TMF646 API for every
# operator account (the APPOINTMENTS entitlement then decides); the wholesale side
# reads every operator's appointments and marks them attended or missed (row scope:
# `entitled_to_any` above).
APPOINTMENTS_USE = grants("AppointmentView", ("can_list", "can_book", "can_show", "can_act")) + grants(
    "Appointments", ("menu_access",)) + grants("AppointmentApi", ("can_search", "can_post", "can_get", "can_patch"))
grant((OPERATOR_ADMIN, OPERATOR_USER), APPOINTMENTS_USE)
grant(WHOLESALE_AGENT, grants("AppointmentView", ("can_list", "can_show", "can_act")) + grants(
    "Appointments", ("menu_access",)) + grants("AppointmentApi", ("can_get", "can_patch")) + grants(
    "Operator", ("menu_access",)))

# After-sales (e-SAV Test, e-SAV Signalisation): the operator's accounts entitled to
# them test their accesses and file incidents; the wholesale back office sees every
# operator's and moves the incidents (app/rules/operator/incidents.py decides who may
# fire what). A diagnostic is seen with its access; an incident by its operator's
# accounts entitled to e-SAV Signalisation.
INCIDENT_READ = (grants("IncidentView", ("can_list", "can_show", "can_export", "can_get_file"))
                 + grants("Incidents", ("menu_access",)) + grants("TroubleTicketApi", ("can_get", "can_patch")))
grant((OPERATOR_ADMIN, OPERATOR_USER, WHOLESALE_AGENT),
      INCIDENT_READ + grants("DiagnosticsView", ("can_search", "can_run", "can_result"))
      + grants("Diagnostics", ("menu_access",)))
grant((OPERATOR_ADMIN, OPERATOR_USER),
      grants("IncidentView", ("can_new", "answer", "close", "reopen", "cancel"))
      + grants("TroubleTicketApi", ("can_post",)))
grant(WHOLESALE_AGENT, grants("IncidentView", ("take", "ask_filer", "hold", "resume", "resolve", "reject"))
      + grants("Operator", ("menu_access",)))
scope(Diagnostic, entitled_to_any((DIAGNOSTICS, INCIDENTS), Diagnostic.organisation_id))
scope(Incident, entitled_to_any((INCIDENTS,), Incident.organisation_id))

# -- e-Just Fibre orders (app/views/operator/orders.py) --
# The operator's accounts order (the wizard, "Échanger la box", "Résilier", the API's
# POST), follow and cancel their orders; the wholesale back office moves every order
# through its workflow. Rows: the operator's, for those entitled to e-Just Fibre; all of
# them for the back office (entitled_to_any).
ORDER_TRANSITIONS = ("complete", "fail", "reschedule", "resume", "await_box", "box_returned", "cancel")
ORDER_READ = grants("OrderView", ("can_list", "can_show", "can_export", "can_dashboard")) + grants(
    "ProductOrderApi", ("can_get",)) + grants("Orders", ("menu_access",)) + grants("OrderDashboard", ("menu_access",))
grant((OPERATOR_ADMIN, OPERATOR_USER), ORDER_READ + grants(
    "OrderView", ("can_new", "can_exchange", "can_terminate", "cancel")) + grants(
    "ProductOrderApi", ("can_post", "can_patch", "can_cancel")) + grants("NewOrder", ("menu_access",)))
grant(WHOLESALE_AGENT, ORDER_READ + grants("OrderView", ORDER_TRANSITIONS) + grants(
    "ProductOrderApi", ("can_patch",)) + grants("Operator", ("menu_access",)))
scope(Order, entitled_to_any((ORDERS,), Order.organisation_id))
