"""Delegation without escalation: a person hands on only rights they hold (or that
their delegating role hands out, app.security.hands_out), only inside their own
organisation, and every grant and revoke is logged.

Organisation roles are granted here (`grant_role`, `revoke_role`). A desk with
rights on an object (a project's visibility list, an event's admin levels)
checks them in its rules and logs them with `record`.
"""
from flask_babel import gettext

from ..extensions import db
from ..models import DelegationAction, DelegationLog, Membership, RoleGrant, utcnow
from ..security import ADMIN, DELEGATING_ROLES, grantable_role_names, role_names
from .refusals import Refused


class DelegationRefused(Refused):
    """A grant or revoke that is not allowed; the message names the field."""


def _organisation_ids(user):
    return {m.organisation_id for m in db.session.query(Membership).filter_by(user_id=user.id)}


def may_delegate(user) -> bool:
    roles = role_names(user)
    return ADMIN in roles or bool(roles & set(DELEGATING_ROLES))


def check_grant(grantor, grantee, role, organisation):
    """Raise DelegationRefused unless `grantor` may give `role` to `grantee` in `organisation`."""
    if grantee is None:
        raise DelegationRefused("grantee", gettext("Person: choose who receives the right."))
    if role is None:
        raise DelegationRefused("role", gettext("Role: choose the right to grant."))
    if organisation is None:
        raise DelegationRefused("organisation", gettext("Organisation: choose where the right applies."))
    grantor_roles = role_names(grantor)
    if ADMIN not in grantor_roles:
        if not may_delegate(grantor):
            raise DelegationRefused(None, gettext("You may not delegate rights."))
        if role.name not in grantable_role_names(grantor_roles):
            raise DelegationRefused("role", gettext("Role: you can only grant a role you hold yourself."))
        if organisation.id not in _organisation_ids(grantor):
            raise DelegationRefused("organisation", gettext(
                "Organisation: you can only grant rights inside your own organisation."))
    if organisation.id not in _organisation_ids(grantee):
        raise DelegationRefused("grantee", gettext("Person: %(person)s is not a member of %(organisation)s.",
                                        person=grantee, organisation=organisation))


def grant_role(grantor, grant: RoleGrant) -> RoleGrant:
    """Check, then give the role and log it; the caller commits (or rolls back)."""
    check_grant(grantor, grant.grantee, grant.role, grant.organisation)
    grant.granted_by_id = grantor.id
    grant.granted_on = utcnow()
    if grant.role not in grant.grantee.roles:
        grant.grantee.roles.append(grant.role)
    db.session.add(grant)
    record(grantor, DelegationAction.grant, grant.role.name, grant.grantee, grant.organisation.id)
    return grant


def revoke_role(revoker, grant: RoleGrant) -> None:
    """Revoke a grant; the person loses the role unless another active grant gives it."""
    if not grant.active:
        raise DelegationRefused(None, gettext("This right was already revoked."))
    check_grant(revoker, grant.grantee, grant.role, grant.organisation)
    grant.revoked_by_id = revoker.id
    grant.revoked_on = utcnow()
    others = (db.session.query(RoleGrant)
              .filter(RoleGrant.grantee_id == grant.grantee_id, RoleGrant.role_id == grant.role_id,
                      RoleGrant.revoked_on.is_(None), RoleGrant.id != grant.id).count())
    if not others and grant.role in grant.grantee.roles:
        grant.grantee.roles.remove(grant.role)
    record(revoker, DelegationAction.revoke, grant.role.name, grant.grantee, grant.organisation.id)


def record(actor, action, right, grantee, organisation_id, obj=None) -> DelegationLog:
    entry = DelegationLog(actor_id=getattr(actor, "id", None), action=action, right=right,
                          grantee_id=getattr(grantee, "id", None), organisation_id=organisation_id,
                          object_type=getattr(obj, "__tablename__", None), object_id=getattr(obj, "id", None),
                          happened_on=utcnow())
    db.session.add(entry)
    return entry
