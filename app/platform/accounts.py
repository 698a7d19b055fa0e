"""Accounts: the password policy, single-use set-password and reset links, and
accounts created by an administrator or a delegating user.

Plain functions over models, without HTTP: the views (app/views/accounts.py)
parse, call one of these and render. Functions that depend on time take `now`
(naive UTC, as every timestamp of the schema); nothing here commits, the caller
does, so a refusal leaves the session as it was.

* Policy: `password_problems` / `check_password_policy`, from the PASSWORD_*
  settings. FAB calls `check_password_policy` (FAB_PASSWORD_COMPLEXITY_VALIDATOR)
  for its own password forms and its user API.
* Links: `send_password_link` queues the mail with the link masked; the token is
  issued when the mail is sent, only its SHA-256 is stored and only the message sent
  holds it (through `app.platform.notifications`); `set_password_with_token`
  checks it (known, not expired, not used), applies the policy, marks it used and
  sets the password, in that order, so a refusal changes nothing.
* Delegated creation: `create_account` creates an account only inside the
  creator's organisations and only with roles the creator may grant (those they
  hold, the baseline, and those their delegating role hands out; Admin: any).
* A login never changes after creation: `install()` adds a guard to the ORM that
  refuses any write changing `ab_user.username`, but for the account its owner
  deletes.
* Leaving: `leave` deletes a person's own account, when `leaving_status` allows it
  (every desk's `register_leaving` rule and the platform's own): the row stays,
  anonymised, so that what desks keep as proof still points at it. `close_account`
  erases someone else's account so, for an administrator or a delegating user.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable, Iterable, Optional

from flask import current_app, url_for
from flask_appbuilder.exceptions import PasswordComplexityValidationError
from flask_appbuilder.security.sqla.models import Role, User
from flask_babel import format_date, gettext, lazy_gettext as _l
from sqlalchemy import delete, event, func, inspect, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..models import (
    Membership,
    Notification,
    Organisation,
    OutboxAttachment,
    OutboxMail,
    PasswordToken,
    PasswordTokenPurpose,
    RoleGrant,
    UserPreference,
    WorkflowEvent,
    utcnow,
)
from ..security import ADMIN, BASELINE_ROLES, end_sessions, grantable_role_names, role_names
from . import delegation, notifications, transactions
from .clock import local_today
from .refusals import Refused

# Endpoint of the page a set-password or reset link opens (app/views/accounts.py).
LINK_ENDPOINT = "PasswordView.choose"

# Mail templates (app/templates/mail/<name>.subject.txt and <name>.txt).
MAIL_TEMPLATES = {
    PasswordTokenPurpose.set: "account_created",
    PasswordTokenPurpose.reset: "password_reset",
}

# A login: 5 to 64 letters, digits and ! . @ _ - (desk E's rule, for every new account).
LOGIN_PATTERN = re.compile(r"^[A-Za-z0-9!.@_-]{5,64}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# ---------------------------------------------------------------------------
# Password policy
# ---------------------------------------------------------------------------


def _requirements(config) -> list[tuple[object, callable]]:
    """[(requirement as read by a person, test)] from the PASSWORD_* settings."""
    minimum = config["PASSWORD_MIN_LENGTH"]
    rules = [(gettext("at least %(num)d characters", num=minimum), lambda p: len(p) >= minimum)]
    if config["PASSWORD_REQUIRE_LOWERCASE"]:
        rules.append((gettext("a lowercase letter"), lambda p: any(c.islower() for c in p)))
    if config["PASSWORD_REQUIRE_UPPERCASE"]:
        rules.append((gettext("an uppercase letter"), lambda p: any(c.isupper() for c in p)))
    if config["PASSWORD_REQUIRE_DIGIT"]:
        rules.append((gettext("a digit"), lambda p: any(c.isdigit() for c in p)))
    if config["PASSWORD_REQUIRE_SYMBOL"]:
        rules.append((gettext("a symbol"), lambda p: any(not c.isalnum() and not c.isspace() for c in p)))
    return rules


def password_problems(password: Optional[str]) -> list[str]:
    """The requirements of the policy `password` misses (empty: it is acceptable)."""
    password = password or ""
    return [str(text) for text, test in _requirements(current_app.config) if not test(password)]


def policy_description() -> str:
    """The policy in one sentence, for the help text of password fields."""
    texts = [str(text) for text, _ in _requirements(current_app.config)]
    return gettext("Required: %(requirements)s.", requirements=", ".join(texts))


def check_password_policy(password: Optional[str]) -> None:
    """Raise PasswordComplexityValidationError naming the field and what it misses.

    This is FAB_PASSWORD_COMPLEXITY_VALIDATOR: FAB's password forms and its user
    API show the message on the password field.
    """
    problems = password_problems(password)
    if problems:
        raise PasswordComplexityValidationError(
            gettext("Password: it must contain %(requirements)s.", requirements=", ".join(problems))
        )


def hash_password(password: str) -> str:
    """The stored form of a password, as FAB hashes it."""
    config = current_app.config
    return generate_password_hash(
        password,
        method=config.get("FAB_PASSWORD_HASH_METHOD", "scrypt"),
        salt_length=config.get("FAB_PASSWORD_HASH_SALT_LENGTH", 16),
    )


def unusable_password() -> str:
    """A hash no one knows the password of: new accounts until their owner sets one."""
    return hash_password(secrets.token_urlsafe(32))


# ---------------------------------------------------------------------------
# Set-password and reset links
# ---------------------------------------------------------------------------


class TokenError(Refused):
    """A link that cannot be used; the message is for the person holding it."""

    reason = _l("This link is not valid. Ask for a new one.")

    def __init__(self):
        super().__init__(None, self.reason)


class TokenUnknown(TokenError):
    pass


class TokenExpired(TokenError):
    reason = _l("This link has expired: links are valid for one hour. Ask for a new one.")


class TokenUsed(TokenError):
    reason = _l("This link has already been used: each link works only once. "
                 "Ask for a new one if you need to.")


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def issue_token(user, purpose: PasswordTokenPurpose, now=None) -> str:
    """Store a new single-use token for `user` and return it (only its hash is kept)."""
    now = now or utcnow()
    raw = secrets.token_urlsafe(32)
    max_age = current_app.config["PASSWORD_TOKEN_MAX_AGE"]
    db.session.add(PasswordToken(
        user_id=user.id, purpose=purpose, token_hash=_digest(raw),
        expires_at=now + timedelta(seconds=max_age), created_on=now,
    ))
    db.session.flush()
    return raw


def find_token(raw: str, now=None) -> PasswordToken:
    """The token a link carries, if it may still be used; else raise a TokenError."""
    now = now or utcnow()
    token = db.session.query(PasswordToken).filter_by(token_hash=_digest(raw or "")).one_or_none()
    if token is None or token.user is None or not token.user.active:
        raise TokenUnknown()
    if token.used_at is not None:
        raise TokenUsed()
    if token.expires_at <= now:
        raise TokenExpired()
    return token


def set_password_with_token(raw: str, password: str, now=None):
    """Set the password of the token's user; the token and every other open link
    of that user are used up. Raises TokenError, or AccountRefused on the password,
    and then changes nothing."""
    now = now or utcnow()
    token = find_token(raw, now)
    try:
        check_password_policy(password)
    except PasswordComplexityValidationError as error:
        raise AccountRefused("password", str(error)) from None
    # Mark it used only if no one else did meanwhile (two clicks, two tabs).
    claimed = db.session.execute(
        update(PasswordToken)
        .where(PasswordToken.id == token.id, PasswordToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise TokenUsed()
    db.session.execute(
        update(PasswordToken)
        .where(PasswordToken.user_id == token.user_id, PasswordToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    user = token.user
    user.password = hash_password(password)
    user.fail_login_count = 0
    db.session.expire(token)
    return user


def _issue_for(purpose):
    def issue(user_id):
        user = db.session.get(User, user_id)
        if user is None or not user.active:
            raise TokenUnknown()
        return issue_token(user, purpose)

    return issue


for _purpose in PasswordTokenPurpose:
    notifications.register_secret_link(f"password_{_purpose.value}", _issue_for(_purpose))


def send_password_link(user, purpose: PasswordTokenPurpose):
    """Queue the mail carrying a link to choose a password. The outbox keeps the link
    masked: its token is issued when the mail is sent, valid from then on
    (`notifications.register_secret_link`), and a resend sends a fresh one. The link is
    absolute on PUBLIC_URL (`notifications.absolute_url`)."""
    max_age = current_app.config["PASSWORD_TOKEN_MAX_AGE"]
    notifications.notify([user], MAIL_TEMPLATES[purpose],
                         {"user": user, "valid_minutes": max_age // 60},
                         link=url_for(LINK_ENDPOINT, token=notifications.MASKED_TOKEN), feed=False,
                         secret_link=f"password_{purpose.value}")


def find_active_user_by_email(email: str):
    email = (email or "").strip()
    if not email:
        return None
    return (db.session.query(User)
            .filter(func.lower(User.email) == email.lower(), User.active.is_(True))
            .order_by(User.id).first())


def request_password_reset(email: str, first_sign_in=False) -> bool:
    """"Forgot password": mail a reset link if an active account has this address;
    "first sign-in": the set-password link to someone who never signed in (the others
    get the reset link).

    The answer is for tests and logs only: a person asking is never told.
    """
    user = find_active_user_by_email(email)
    if user is None:
        return False
    first = first_sign_in and user.last_login is None
    send_password_link(user, PasswordTokenPurpose.set if first else PasswordTokenPurpose.reset)
    return True


# ---------------------------------------------------------------------------
# Creating accounts
# ---------------------------------------------------------------------------


class AccountRefused(Refused):
    """An account that may not be created; `field` names the form field at fault."""


def allowed_organisations(creator) -> list:
    """Where `creator` may create accounts: their own organisations (Admin: all)."""
    query = db.session.query(Organisation).order_by(Organisation.name)
    if ADMIN not in role_names(creator):
        query = query.join(Membership, Membership.organisation_id == Organisation.id).filter(
            Membership.user_id == creator.id)
    return query.filter(Organisation.active.is_(True)).all()


def allowed_roles(creator) -> list:
    """The roles `creator` may give: those delegation lets them grant
    (app.security.grantable_role_names; Admin: every role but Public)."""
    public = current_app.config.get("AUTH_ROLE_PUBLIC", "Public")
    query = db.session.query(Role).filter(Role.name != public).order_by(Role.name)
    if ADMIN not in role_names(creator):
        query = query.filter(Role.name.in_(grantable_role_names(role_names(creator))))
    return query.all()


def check_new_login(username: str) -> str:
    username = (username or "").strip()
    if not LOGIN_PATTERN.match(username):
        raise AccountRefused("username", gettext(
            "Login: 5 to 64 characters among letters, digits and ! . @ _ -"))
    taken = db.session.query(User.id).filter(func.lower(User.username) == username.lower()).first()
    if taken:
        raise AccountRefused("username", gettext("Login: this login is already taken."))
    return username


def check_new_email(email: str) -> str:
    email = (email or "").strip()
    if not EMAIL_PATTERN.match(email):
        raise AccountRefused("email", gettext("Email: this is not a valid address."))
    taken = db.session.query(User.id).filter(func.lower(User.email) == email.lower()).first()
    if taken:
        raise AccountRefused("email", gettext("Email: an account already uses this address."))
    return email


def create_account(creator, *, username, first_name, last_name, email,
                   organisation_id, role_ids: Iterable[int]):
    """Create an active account without a known password, its membership and its
    roles (each a logged `RoleGrant`, app.platform.delegation), and queue the
    set-password mail. Raise AccountRefused, naming the field, when `creator` may
    not: an organisation they do not belong to, a role they may not grant, an
    invalid or taken login or address. Checks come first: a refusal adds nothing.
    Two creations of one login or address at once take turns (`transactions.claim`):
    the second is refused as taken."""
    if not delegation.may_delegate(creator):
        raise AccountRefused("roles", gettext("You may not create accounts."))
    organisations = {org.id: org for org in allowed_organisations(creator)}
    try:
        organisation = organisations.get(int(organisation_id))
    except (TypeError, ValueError):
        organisation = None
    if organisation is None:
        raise AccountRefused("organisation", gettext(
            "Organisation: you may create accounts only in your own organisations."))
    try:
        role_ids = {int(pk) for pk in role_ids or ()}
    except (TypeError, ValueError):
        role_ids = {-1}
    if not role_ids:
        raise AccountRefused("roles", gettext("Roles: choose at least one role."))
    roles = {role.id: role for role in allowed_roles(creator)}
    if not role_ids <= set(roles):
        raise AccountRefused("roles", gettext("Roles: you may give only roles you hold yourself."))
    for field, value, label in (("first_name", first_name, gettext("First name")),
                                ("last_name", last_name, gettext("Last name"))):
        if not (value or "").strip():
            raise AccountRefused(field, gettext("%(field)s: this field is required.", field=label))
    transactions.claim("login", [(username or "").strip().lower()])
    transactions.claim("email", [(email or "").strip().lower()])
    username = check_new_login(username)
    email = check_new_email(email)

    user = User(
        username=username, first_name=first_name.strip(), last_name=last_name.strip(),
        email=email, active=True, password=unusable_password(), roles=[],
        created_by_fk=getattr(creator, "id", None), changed_by_fk=getattr(creator, "id", None),
    )
    db.session.add(user)
    db.session.flush()
    db.session.add(Membership(user_id=user.id, organisation_id=organisation.id))
    db.session.flush()
    try:
        for pk in sorted(role_ids):
            delegation.grant_role(creator, RoleGrant(grantee=user, role=roles[pk], organisation=organisation))
    except delegation.DelegationRefused as refusal:
        raise AccountRefused("roles", str(refusal)) from refusal
    send_password_link(user, PasswordTokenPurpose.set)
    return user


# ---------------------------------------------------------------------------
# A login never changes
# ---------------------------------------------------------------------------


class LoginChangeError(ValueError):
    """A write that would change a login (ab_user.username)."""


def _keep_login(mapper, connection, target):
    state = inspect(target)
    if state.info.get(_ERASING):  # `leave`: the login of an erased account names no one
        return
    history = state.attrs.username.history
    if history.deleted and history.deleted[0] is not None and history.added \
            and history.added[0] != history.deleted[0]:
        raise LoginChangeError(f"The login {history.deleted[0]!r} cannot be changed")


def install() -> None:
    """Refuse, at the ORM, any update changing a login (the views refuse it first)."""
    if not event.contains(User, "before_update", _keep_login):
        event.listen(User, "before_update", _keep_login)


# ---------------------------------------------------------------------------
# Leaving: a person deletes their own account
# ---------------------------------------------------------------------------
#
# The account row stays (what a desk keeps as proof, a reservation, a payment, still
# points at it) but says nothing of its person any more: named ERASED_NAME, a login and
# an address that name no one, no password, inactive, signed out everywhere. Each desk
# says, through `register_leaving`, whether and from when a person may leave and what
# it erases of them; the platform decides for staff accounts (they hold roles beyond
# the baseline: an administrator closes them) and erases its own rows.

ERASED_NAME = "Anonyme"
ERASED_DOMAIN = "compte-supprime.invalid"  # RFC 2606: no mail is ever delivered there
_ERASING = "guichet_erasing"  # InstanceState.info: the one write allowed to change a login


@dataclass(frozen=True)
class LeavingRule:
    """What a desk says about a person deleting their own account."""

    kept: Callable  # (user) -> why they may never delete it themselves (a text), or None
    not_before: Callable  # (user) -> the first local day they may (a date), or None
    erase: Callable  # (user) -> erase the personal data the desk keeps about them


LEAVING_RULES: list[LeavingRule] = []


def register_leaving(rule: LeavingRule) -> None:
    LEAVING_RULES.append(rule)


@dataclass(frozen=True)
class LeavingStatus:
    refusal: Optional[str]  # why this account may not be deleted by its owner at all
    not_before: Optional[date]  # the first day it may be (None: no wait)
    today: date

    @property
    def may_leave(self) -> bool:
        return self.refusal is None and (self.not_before is None or self.not_before <= self.today)


class LeavingRefused(Refused):
    """An account its owner may not delete (yet), or a confirmation that does not hold."""


def leaving_status(user, today=None) -> LeavingStatus:
    """Whether, and from which day, `user` may delete their own account."""
    today = today or local_today()
    if not user.active:
        refusal = gettext("This account is closed.")
    elif role_names(user) - set(BASELINE_ROLES):
        refusal = gettext("An account holding a role (organiser, staff, administrator) is closed by an "
                          "administrator: ask them.")
    else:
        refusal = next((reason for reason in (rule.kept(user) for rule in LEAVING_RULES) if reason), None)
    days = [day for day in (rule.not_before(user) for rule in LEAVING_RULES) if day is not None]
    return LeavingStatus(refusal, max(days) if days else None, today)


def leave(user, password, today=None):
    """The person deletes their own account, confirmed by their password: every desk
    erases what it keeps of them, then the platform its rows and the account's identity;
    the history records it. Raises LeavingRefused, and then changes nothing. The caller
    commits (and signs the person out)."""
    status = leaving_status(user, today)
    if status.refusal:
        raise LeavingRefused(None, status.refusal)
    if not status.may_leave:
        raise LeavingRefused(None, gettext("You may delete your account from %(day)s.",
                                           day=format_date(status.not_before, "long")))
    if not password or not user.password or not check_password_hash(user.password, password):
        raise LeavingRefused("password", gettext("Password: this is not your password."))
    return _erase(user, user)


def close_account(closer, user):
    """Someone else's account deleted by an administrator, or by a delegating user when
    it belongs to one of their organisations and holds only roles they may grant (no
    escalation): erased as `leave` erases it, every desk's rule erasing its part, the
    history naming who did it. Nobody closes their own account here (they leave).
    Raises LeavingRefused, and then changes nothing. The caller commits."""
    if user is None or user.email.endswith("@" + ERASED_DOMAIN):
        raise LeavingRefused(None, gettext("This account is already deleted."))
    if user.id == closer.id:
        raise LeavingRefused(None, gettext("You cannot delete your own account here."))
    if ADMIN not in role_names(closer):
        theirs = select(Membership.organisation_id).where(Membership.user_id == closer.id)
        shared = db.session.scalar(select(Membership.id).where(
            Membership.user_id == user.id, Membership.organisation_id.in_(theirs)).limit(1))
        if not delegation.may_delegate(closer) or shared is None \
                or role_names(user) - grantable_role_names(role_names(closer)):
            raise LeavingRefused(None, gettext("You may not delete this account."))
    return _erase(user, closer)


def _erase(user, actor):
    """Erase an account: what every desk keeps of its person, the platform's rows, its
    identity; the history records who did it."""
    from_state = "active" if user.active else "inactive"
    for rule in LEAVING_RULES:
        rule.erase(user)
    mails = select(OutboxMail.id).where(OutboxMail.user_id == user.id)
    db.session.execute(delete(OutboxAttachment).where(OutboxAttachment.mail_id.in_(mails))
                       .execution_options(synchronize_session=False))
    for model in (Membership, PasswordToken, UserPreference, Notification, OutboxMail):
        db.session.execute(delete(model).where(model.user_id == user.id).execution_options(
            synchronize_session=False))
    inspect(user).info[_ERASING] = True
    user.first_name, user.last_name = ERASED_NAME, ""
    user.username = f"anonyme-{user.id}"
    user.email = f"anonyme-{user.id}@{ERASED_DOMAIN}"
    user.password = unusable_password()
    user.active = False
    user.roles, user.groups = [], []
    db.session.add(WorkflowEvent(object_type=User.__tablename__, object_id=user.id, transition="erased",
                                 from_state=from_state, to_state="erased", actor_id=actor.id, happened_on=utcnow()))
    db.session.flush()
    end_sessions([user.id])
    return user
