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
  creator's organisations and only with roles the creator holds (Admin: any).
* A login never changes after creation: `install()` adds a guard to the ORM that
  refuses any write changing `ab_user.username`.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from typing import Iterable, Optional

from flask import current_app, url_for
from flask_appbuilder.exceptions import PasswordComplexityValidationError
from flask_appbuilder.security.sqla.models import Role, User
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import event, func, inspect, update
from werkzeug.security import generate_password_hash

from ..extensions import db
from ..models import (
    Membership,
    Organisation,
    PasswordToken,
    PasswordTokenPurpose,
    RoleGrant,
    utcnow,
)
from ..security import ADMIN, role_names
from . import delegation, notifications
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
    """The roles `creator` may give: those they hold (Admin: every role but Public)."""
    public = current_app.config.get("AUTH_ROLE_PUBLIC", "Public")
    if ADMIN in role_names(creator):
        return db.session.query(Role).filter(Role.name != public).order_by(Role.name).all()
    return sorted((role for role in creator.roles if role.name != public), key=lambda r: r.name)


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
    not: an organisation they do not belong to, a role they do not hold, an
    invalid or taken login or address. Checks come first: a refusal adds nothing."""
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
    history = inspect(target).attrs.username.history
    if history.deleted and history.deleted[0] is not None and history.added \
            and history.added[0] != history.deleted[0]:
        raise LoginChangeError(f"The login {history.deleted[0]!r} cannot be changed")


def install() -> None:
    """Refuse, at the ORM, any update changing a login (the views refuse it first)."""
    if not event.contains(User, "before_update", _keep_login):
        event.listen(User, "before_update", _keep_login)
