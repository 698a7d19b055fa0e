"""Desk E's "Gestion des droits": an operator's admin creates its accounts, several at
once, ticks the e-services they may use (only those the operator subscribes to), edits
one account at a time, deactivates or deletes it.

* Creating is all or nothing: every row is checked first (login, names, mail, a French
  fixed or mobile phone), every problem named by its row and field; then each account
  is made by the platform (`accounts.create_account`: membership, the OperatorUser role
  logged, the set-password mail) and the admin is mailed the list with each status.
  Two admins creating one login at once take turns (`transactions.claim`): one wins.
* Each tick and untick is an `Entitlement` row made or deleted and a line of the
  delegation log (right: the e-service's code, object: the EService).
* Deleting erases the account as the platform erases one (`accounts.close_account`):
  the row stays, anonymised, so the delegation log still points at it, and its login
  and mail are free again (the seed: to change a login, delete and recreate).
* An admin's own account, and any account holding OperatorAdmin, is the platform's to
  manage: listed, never edited, deactivated or deleted here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Optional

from flask import url_for
from flask_appbuilder.security.sqla.models import Role, User
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import delete, func, select
from sqlalchemy.orm import contains_eager

from ...access import operator as access
from ...extensions import db
from ...models import (
    DelegationAction,
    Entitlement,
    EService,
    OperatorAccount,
    OperatorSubscription,
    Organisation,
    OrganisationKind,
    WorkflowEvent,
    utcnow,
)
from ...platform import accounts, delegation, notifications, transactions
from ...platform.refusals import Refused
from ...security import ADMIN, OPERATOR_ADMIN, OPERATOR_USER, end_sessions, role_names, viewer_of

#: How many accounts one form may create.
MAX_ROWS = 50
#: The template of the mail the admin gets (app/templates/mail/operator/).
CREATED_MAIL = "operator/accounts_created"

FIELD_LABELS = {
    "login": _l("Login name"),
    "last_name": _l("Last name"),
    "first_name": _l("First name"),
    "email": _l("Email"),
    "fixed_phone": _l("Fixed phone"),
    "mobile_phone": _l("Mobile phone"),
    "eservices": _l("E-services"),
}
# The platform's fields (accounts.create_account) as this form names them.
_PLATFORM_FIELDS = {"username": "login", "first_name": "first_name", "last_name": "last_name", "email": "email"}

# French numbers: 10 digits from 0, or +33 / 0033 then 9; fixed lines start 01 to 05
# or 09 (geographic, then internet boxes), mobiles 06 or 07.
_PHONE_SEPARATORS = re.compile(r"[\s.\-()/]")
_FRENCH_NUMBER = re.compile(r"^0[1-9][0-9]{8}$")
FIXED_PREFIXES = ("01", "02", "03", "04", "05", "09")
MOBILE_PREFIXES = ("06", "07")


@dataclass
class AccountRow:
    """One account as the form gives it (strings as typed)."""

    login: str = ""
    last_name: str = ""
    first_name: str = ""
    email: str = ""
    fixed_phone: str = ""
    mobile_phone: str = ""

    FIELDS = ("login", "last_name", "first_name", "email", "fixed_phone", "mobile_phone")

    def __post_init__(self):
        for item in fields(self):
            setattr(self, item.name, (getattr(self, item.name) or "").strip())

    @property
    def blank(self) -> bool:
        return not any(getattr(self, name) for name in self.FIELDS)


@dataclass(frozen=True)
class Problem:
    """What is wrong with a form: its row (0-based; None: the form as a whole), its field
    (None: the row or the form) and the message, which names both."""

    row: Optional[int]
    field: Optional[str]
    message: str
    detail: str = ""  # the message as said beside its field (without the row)


class AccountsRefused(Refused):
    """A form refused: nothing was created or changed; `problems` lists every problem."""

    def __init__(self, problems):
        self.problems = list(problems)
        first = self.problems[0]
        super().__init__(first.field, " ".join(problem.message for problem in self.problems))


class AccountActionRefused(Refused):
    """An action on one account that may not be done (on oneself, on an admin…)."""


# ---------------------------------------------------------------------------
# Who manages which operator, and its catalogue
# ---------------------------------------------------------------------------


def managed_operators(user) -> list:
    """The operators whose accounts `user` manages: those they administer (an
    OperatorAdmin), every active operator for a platform Admin."""
    query = db.session.query(Organisation).filter(Organisation.kind == OrganisationKind.operator,
                                                  Organisation.active.is_(True))
    if ADMIN not in role_names(user):
        ids = access.administered_operator_ids(viewer_of(user))
        if not ids:
            return []
        query = query.filter(Organisation.id.in_(list(ids)))
    return query.order_by(Organisation.name).all()


def _check_manages(user, operator_id) -> Organisation:
    operator = next((item for item in managed_operators(user) if item.id == operator_id), None)
    if operator is None:
        raise AccountActionRefused(None, gettext("You do not manage this operator's accounts."))
    return operator


def subscribed_ids(operator) -> set:
    return set(db.session.scalars(select(OperatorSubscription.eservice_id).where(
        OperatorSubscription.organisation_id == operator.id)))


def catalogue(operator) -> list:
    """[(group, [(e-service, subscribed)])] in the seed's order: the rights screen's columns."""
    subscribed = subscribed_ids(operator)
    groups = {}
    for service in db.session.query(EService).order_by(EService.position, EService.id):
        groups.setdefault(service.category, []).append((service, service.id in subscribed))
    return list(groups.items())


def _wanted_services(operator, eservice_ids, row=None) -> tuple[list, list]:
    """The e-services ticked (as EService rows) and the problems: an unknown id, or one
    the operator does not subscribe to."""
    problems, wanted = [], set()
    for value in eservice_ids or ():
        try:
            wanted.add(int(value))
        except (TypeError, ValueError):
            problems.append(Problem(row, "eservices", gettext("E-services: this choice is not in the catalogue.")))
    services = db.session.query(EService).filter(EService.id.in_(sorted(wanted))).all() if wanted else []
    if len(services) != len(wanted):
        problems.append(Problem(row, "eservices", gettext("E-services: this choice is not in the catalogue.")))
    subscribed = subscribed_ids(operator)
    for service in services:
        if service.id not in subscribed:
            problems.append(Problem(row, "eservices", gettext(
                "E-services: %(operator)s does not subscribe to %(name)s.", operator=operator.name,
                name=service.name)))
    return sorted(services, key=lambda item: (item.position, item.id)), problems


# ---------------------------------------------------------------------------
# Checking what is typed
# ---------------------------------------------------------------------------


def normalise_phone(value: str) -> str:
    """A French number as stored: its 10 digits (from "04 72 00 01 00", "+33 4 72…",
    "0033 4…"); "" when it is not one."""
    number = _PHONE_SEPARATORS.sub("", value or "")
    if number.startswith("+33"):
        number = "0" + number[3:]
    elif number.startswith("0033"):
        number = "0" + number[4:]
    return number if _FRENCH_NUMBER.match(number) else ""


def format_phone(number: Optional[str]) -> str:
    """A stored number as people write it: 04 72 00 01 00."""
    if not number or len(number) != 10:
        return number or ""
    return " ".join(number[i:i + 2] for i in range(0, 10, 2))


def _label(field):
    return str(FIELD_LABELS[field])


def _field_problems(values: AccountRow, row, user_id=None) -> tuple[dict, list]:
    """Check a row's names, mail and phones (not its login): (clean values, problems)."""
    problems, clean = [], {}
    for name in ("last_name", "first_name"):
        value = getattr(values, name)
        if not value:
            problems.append(Problem(row, name, gettext("%(field)s: this field is required.", field=_label(name))))
        elif len(value) > 64:
            problems.append(Problem(row, name, gettext("%(field)s: 64 characters at most.", field=_label(name))))
        clean[name] = value
    if not accounts.EMAIL_PATTERN.match(values.email) or len(values.email) > 320:
        problems.append(Problem(row, "email", gettext("Email: this is not a valid address.")))
    else:
        taken = db.session.scalar(select(User.id).where(func.lower(User.email) == values.email.lower(),
                                                        User.id != (user_id or -1)).limit(1))
        if taken is not None:
            problems.append(Problem(row, "email", gettext("Email: an account already uses this address.")))
    clean["email"] = values.email
    for name, prefixes, message in (
            ("fixed_phone", FIXED_PREFIXES, _l("Fixed phone: a French number of 10 digits starting with 01 to 05 "
                                               "or 09, e.g. 04 72 00 01 00.")),
            ("mobile_phone", MOBILE_PREFIXES, _l("Mobile phone: a French number of 10 digits starting with 06 "
                                                 "or 07, e.g. 06 12 34 56 78."))):
        typed = getattr(values, name)
        number = normalise_phone(typed)
        if typed and not number.startswith(prefixes):
            problems.append(Problem(row, name, str(message)))
        clean[name] = number or None
    if not values.fixed_phone and not values.mobile_phone:
        problems.append(Problem(row, "fixed_phone", gettext(
            "Phones: give a fixed or a mobile phone, at least one.")))
    return clean, problems


def _in_row(problem: Problem) -> Problem:
    """The problem's message prefixed by its row's number, as the form shows it."""
    if problem.row is None:
        return problem
    return Problem(problem.row, problem.field, gettext("Account %(number)d — %(problem)s",
                                                       number=problem.row + 1, problem=problem.message),
                   detail=problem.message)


# ---------------------------------------------------------------------------
# Creating accounts
# ---------------------------------------------------------------------------


def too_many_rows() -> Problem:
    return Problem(None, None, gettext("Accounts: %(count)d at most in one form.", count=MAX_ROWS))


def create_accounts(actor, operator_id, rows, eservice_ids) -> list:
    """Create an account per row that is not blank (rows: AccountRow, in the form's
    order), each given the e-services ticked; mail the admin the list. Raises
    AccountsRefused naming every problem by row and field; then nothing is created.
    The caller commits."""
    operator = _check_manages(actor, operator_id)
    filled = [(index, row) for index, row in enumerate(rows) if not row.blank]
    if len(rows) > MAX_ROWS:
        raise AccountsRefused([too_many_rows()])
    if not filled:
        raise AccountsRefused([Problem(None, None, gettext(
            "Accounts: fill in at least one account (a login, a name, a first name, a mail and a phone)."))])
    # Turns with anyone creating one of these logins or addresses right now.
    transactions.claim("login", [row.login.lower() for _, row in filled])
    transactions.claim("email", [row.email.lower() for _, row in filled])
    services, problems = _wanted_services(operator, eservice_ids)
    logins, emails, checked = {}, {}, []
    for index, row in filled:
        found = []
        if not accounts.LOGIN_PATTERN.match(row.login):
            found.append(Problem(index, "login", gettext(
                "Login: 5 to 64 characters among letters, digits and ! . @ _ -")))
        elif row.login.lower() in logins:
            found.append(Problem(index, "login", gettext(
                "Login: already typed for account %(number)d.", number=logins[row.login.lower()] + 1)))
        elif db.session.scalar(select(User.id).where(func.lower(User.username) == row.login.lower()).limit(1)):
            found.append(Problem(index, "login", gettext("Login: this login is already taken.")))
        logins.setdefault(row.login.lower(), index)
        clean, more = _field_problems(row, index)
        if row.email and row.email.lower() in emails and not any(p.field == "email" for p in more):
            more.append(Problem(index, "email", gettext(
                "Email: already typed for account %(number)d.", number=emails[row.email.lower()] + 1)))
        emails.setdefault(row.email.lower(), index)
        found.extend(more)
        problems.extend(found)
        checked.append((index, row, clean))
    if problems:
        raise AccountsRefused([_in_row(problem) for problem in problems])

    role = db.session.query(Role).filter_by(name=OPERATOR_USER).one()
    created = []
    for index, row, clean in checked:
        try:
            user = accounts.create_account(actor, username=row.login, first_name=clean["first_name"],
                                           last_name=clean["last_name"], email=clean["email"],
                                           organisation_id=operator.id, role_ids=[role.id])
        except accounts.AccountRefused as refusal:
            raise AccountsRefused([_in_row(Problem(index, _PLATFORM_FIELDS.get(refusal.field), refusal.message))]) \
                from refusal
        db.session.add(OperatorAccount(user_id=user.id, organisation_id=operator.id,
                                       fixed_phone=clean["fixed_phone"], mobile_phone=clean["mobile_phone"]))
        _set_services(actor, user, operator, services)
        created.append(user)
    notifications.notify([actor], CREATED_MAIL, {
        "operator": operator, "created": created, "services": services,
    }, link=url_for("OperatorAccountsView.list", operator=operator.id))
    return created


# ---------------------------------------------------------------------------
# Ticks: each one an Entitlement row and a line of the delegation log
# ---------------------------------------------------------------------------


def _set_services(actor, user, operator, services) -> tuple[list, list]:
    """Make `user`'s ticks among the operator's subscriptions be `services`: (granted,
    revoked). A tick on an e-service the operator no longer subscribes to is left alone
    (it opens nothing: access.entitled_codes asks for the subscription too)."""
    subscribed = subscribed_ids(operator)
    current = {item.eservice_id: item for item in db.session.query(Entitlement).filter_by(
        user_id=user.id, organisation_id=operator.id)}
    wanted = {service.id: service for service in services}
    granted, revoked = [], []
    for service_id, service in wanted.items():
        if service_id not in current:
            db.session.add(Entitlement(user_id=user.id, organisation_id=operator.id, eservice_id=service_id,
                                       granted_by_id=actor.id, granted_on=utcnow()))
            delegation.record(actor, DelegationAction.grant, service.code, user, operator.id, obj=service)
            granted.append(service)
    for service_id, entitlement in current.items():
        if service_id not in wanted and service_id in subscribed:
            service = entitlement.eservice
            db.session.delete(entitlement)
            delegation.record(actor, DelegationAction.revoke, service.code, user, operator.id, obj=service)
            revoked.append(service)
    return granted, revoked


def ticked_services(user_ids, operator) -> dict:
    """{user id: [EService]} of these accounts' ticks that open something (subscribed)."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        select(Entitlement.user_id, EService).join(EService, EService.id == Entitlement.eservice_id)
        .join(OperatorSubscription, (OperatorSubscription.eservice_id == Entitlement.eservice_id)
              & (OperatorSubscription.organisation_id == Entitlement.organisation_id))
        .where(Entitlement.organisation_id == operator.id, Entitlement.user_id.in_(list(user_ids)))
        .order_by(EService.position, EService.id)).all()
    found = {}
    for user_id, service in rows:
        found.setdefault(user_id, []).append(service)
    return found


# ---------------------------------------------------------------------------
# One account: list, edit, deactivate, delete
# ---------------------------------------------------------------------------


def operator_accounts(operator, page=0, page_size=50) -> tuple[list, int]:
    """The operator's accounts, by login, one page of them, and how many there are."""
    query = (db.session.query(OperatorAccount).join(User, User.id == OperatorAccount.user_id)
             .filter(OperatorAccount.organisation_id == operator.id))
    count = query.count()
    items = (query.options(contains_eager(OperatorAccount.user).selectinload(User.roles))
             .order_by(func.lower(User.username)).offset(page * page_size).limit(page_size).all())
    return items, count


def is_admin_account(account) -> bool:
    """An operator's admin (or a platform admin): managed by the platform, not here."""
    return bool(role_names(account.user) & {OPERATOR_ADMIN, ADMIN})


def managed_account(actor, account_id) -> Optional[OperatorAccount]:
    """The account `actor` manages with this id, or None (not theirs, or none)."""
    account = db.session.get(OperatorAccount, account_id)
    if account is None or account.organisation_id not in {item.id for item in managed_operators(actor)}:
        return None
    return account


def changeable(actor, account) -> bool:
    """Whether `actor` may edit, deactivate or delete this account (not their own, not an admin's)."""
    return account.user_id != actor.id and not is_admin_account(account)


def _check_changeable(actor, account, own_message):
    if account.user_id == actor.id:
        raise AccountActionRefused(None, own_message)
    if is_admin_account(account):
        raise AccountActionRefused(None, gettext(
            "This is an administrator's account: the platform's administrators manage it."))


def update_account(actor, account, values: AccountRow, eservice_ids):
    """Change one account's names, mail, phones and ticks; never its login. Raises
    AccountsRefused (rows None) naming every problem; then nothing changes."""
    _check_manages(actor, account.organisation_id)
    _check_changeable(actor, account, gettext("Your own account is managed by the platform's administrators."))
    account = transactions.lock(account)  # one edit of an account at a time
    user = account.user
    transactions.claim("email", [values.email.lower()])
    services, problems = _wanted_services(account.organisation, eservice_ids)
    clean, more = _field_problems(values, None, user_id=user.id)
    problems.extend(more)
    if problems:
        raise AccountsRefused(problems)
    user.first_name, user.last_name, user.email = clean["first_name"], clean["last_name"], clean["email"]
    user.changed_by_fk = actor.id
    account.fixed_phone, account.mobile_phone = clean["fixed_phone"], clean["mobile_phone"]
    return _set_services(actor, user, account.organisation, services)


def _history(actor, user, transition, from_state, to_state):
    db.session.add(WorkflowEvent(object_type=User.__tablename__, object_id=user.id, transition=transition,
                                 from_state=from_state, to_state=to_state, actor_id=actor.id,
                                 happened_on=utcnow()))


def deactivate(actor, account):
    """The account can no longer sign in; its sessions and API tokens end now."""
    _check_manages(actor, account.organisation_id)
    _check_changeable(actor, account, gettext("You cannot deactivate your own account."))
    user = transactions.lock(account.user)
    if not user.active:
        raise AccountActionRefused(None, gettext("This account is already deactivated."))
    user.active = False
    user.changed_by_fk = actor.id
    end_sessions([user.id])
    _history(actor, user, "deactivated", "active", "inactive")
    return user


def reactivate(actor, account):
    _check_manages(actor, account.organisation_id)
    _check_changeable(actor, account, gettext("You cannot deactivate your own account."))
    user = transactions.lock(account.user)
    if user.active:
        raise AccountActionRefused(None, gettext("This account is already active."))
    user.active = True
    user.changed_by_fk = actor.id
    _history(actor, user, "reactivated", "inactive", "active")
    return user


def delete_account(actor, account):
    """Erase the account (accounts.close_account): its ticks revoked in the delegation
    log first, then its phones and every desk's data about its person; its login and
    mail become free."""
    _check_manages(actor, account.organisation_id)
    _check_changeable(actor, account, gettext("You cannot delete your own account."))
    user, operator = account.user, account.organisation
    login = user.username
    for entitlement in db.session.query(Entitlement).filter_by(user_id=user.id).all():
        delegation.record(actor, DelegationAction.revoke, entitlement.eservice.code, user,
                          entitlement.organisation_id, obj=entitlement.eservice)
    try:
        accounts.close_account(actor, user)
    except accounts.LeavingRefused as refusal:
        raise AccountActionRefused(None, refusal.message) from refusal
    return login, operator


def _erase_operator_data(user):
    """What desk E keeps of a person: their phones and their ticks."""
    for model in (Entitlement, OperatorAccount):
        db.session.execute(delete(model).where(model.user_id == user.id).execution_options(
            synchronize_session=False))


accounts.register_leaving(accounts.LeavingRule(kept=lambda user: None, not_before=lambda user: None,
                                               erase=_erase_operator_data))
