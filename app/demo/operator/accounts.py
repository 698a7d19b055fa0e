"""The two operators' subscriptions, a second OperatorUser, and the e-services the
admin ticked for each account (recorded in the delegation log like any tick)."""
from flask import current_app

from ...extensions import db
from ...models import DelegationAction, Entitlement, EService, OperatorAccount, OperatorSubscription
from ...platform import delegation
from ...security import OPERATOR_USER
from ..platform import ensure_account, organisation

FIBRE, ALPES = "Fibre Rhône Télécom", "Alpes Connect"
SUBSCRIPTIONS = {
    FIBRE: ["eligibility", "tao", "grafic", "fci", "e-rdv", "e-just-fibre", "e-sav-test", "e-sav-signal",
            "file-deposit", "invoices", "certificates"],
    ALPES: ["eligibility", "e-pricer", "fci", "e-rdv-business", "certificates"],
}
# login, first name, last name, fixed phone, mobile phone, the e-services ticked
OPERATOR_USERS = [
    ("opuser", "Manon", "Garcia", "0472000101", None, ["eligibility", "tao", "e-rdv", "e-just-fibre"]),
    ("opsav", "Julien", "Morel", None, "0612345678", ["e-sav-test", "e-sav-signal", "certificates"]),
]
ADMIN_PHONE = {"opadmin": ("0472000100", "0611223344")}


def _eservice(code):
    return db.session.query(EService).filter_by(code=code).one()


def _account(user, operator, fixed, mobile):
    if not db.session.query(OperatorAccount).filter_by(user_id=user.id).first():
        db.session.add(OperatorAccount(user_id=user.id, organisation_id=operator.id, fixed_phone=fixed,
                                       mobile_phone=mobile))


def load():
    admin = current_app.appbuilder.sm.find_user(username="opadmin")  # made by app/demo/platform.py
    for name, codes in SUBSCRIPTIONS.items():
        operator = organisation(name)
        for code in codes:
            service = _eservice(code)
            if not db.session.query(OperatorSubscription).filter_by(organisation_id=operator.id,
                                                                    eservice_id=service.id).first():
                db.session.add(OperatorSubscription(organisation_id=operator.id, eservice_id=service.id))
    fibre = organisation(FIBRE)
    _account(admin, fibre, *ADMIN_PHONE["opadmin"])
    for login, first, last, fixed, mobile, codes in OPERATOR_USERS:
        user = ensure_account(login, OPERATOR_USER, first, last, [FIBRE])
        _account(user, fibre, fixed, mobile)
        for code in codes:
            service = _eservice(code)
            if not db.session.query(Entitlement).filter_by(user_id=user.id, organisation_id=fibre.id,
                                                           eservice_id=service.id).first():
                db.session.add(Entitlement(user_id=user.id, organisation_id=fibre.id, eservice_id=service.id,
                                           granted_by_id=admin.id))
                delegation.record(admin, DelegationAction.grant, service.code, user, fibre.id,
                                  obj=service)
    db.session.commit()
    yield (f"desk E: {len(SUBSCRIPTIONS)} operators' subscriptions, {len(OPERATOR_USERS)} operator accounts "
           f"with their e-services")
