"""Delegation screens: rights granted inside an organisation, and their log."""
from flask import flash, g, redirect
from flask_appbuilder.actions import action
from flask_babel import lazy_gettext as _l, ngettext

from ..models import DelegationLog, RoleGrant
from ..platform import delegation
from ..security import ScopedInterface, role_label
from .base import Attempt, GuichetModelView

GRANT_LABELS = {
    "grantee": _l("Person"),
    "role": _l("Role"),
    "organisation": _l("Organisation"),
    "granted_by": _l("Granted by"),
    "granted_on": _l("Granted on"),
    "revoked_by": _l("Revoked by"),
    "revoked_on": _l("Revoked on"),
}


class RoleGrantView(GuichetModelView):
    """Grant a role you hold to a member of your organisation; revoke it later."""

    datamodel = ScopedInterface(RoleGrant)
    route_base = "/delegations"
    base_permissions = ["can_list", "can_show", "can_add", "can_export"]
    list_title = _l("Delegated rights")
    show_title = _l("Delegated right")
    add_title = _l("Delegate a right")
    list_columns = ["grantee", "role", "organisation", "granted_by", "granted_on", "revoked_on"]
    show_columns = ["grantee", "role", "organisation", "granted_by", "granted_on", "revoked_by", "revoked_on"]
    add_columns = ["grantee", "role", "organisation"]
    search_columns = ["grantee", "role", "organisation", "revoked_on"]
    label_columns = GRANT_LABELS
    base_order = ("granted_on", "desc")

    def pre_add(self, item):
        delegation.grant_role(g.user, item)

    @action("revoke", _l("Revoke"), _l("Revoke the selected rights?"), "fa-ban")
    def revoke(self, items):
        items = items if isinstance(items, list) else [items]
        done = 0
        for grant in items:  # each on its own: one refusal undoes no other revoke
            with Attempt(flash_refusal=False) as attempt:
                delegation.revoke_role(g.user, grant)
            if attempt.refused is None:
                done += 1
            else:
                flash(f"{grant}: {attempt.refused}", "danger")
        if done:
            flash(ngettext("%(num)d right revoked.", "%(num)d rights revoked.", done), "success")
        return redirect(self.get_redirect())


class DelegationLogView(GuichetModelView):
    """Who granted or revoked what, to whom, when."""

    datamodel = ScopedInterface(DelegationLog)
    route_base = "/delegation-log"
    base_permissions = ["can_list", "can_show", "can_export"]
    list_title = _l("Delegation log")
    show_title = _l("Delegation log entry")
    list_columns = ["happened_on", "actor", "action", "right", "grantee", "organisation"]
    show_columns = ["happened_on", "actor", "action", "right", "grantee", "organisation", "object_type", "object_id"]
    search_columns = ["actor", "action", "right", "grantee", "organisation", "happened_on"]
    label_columns = {
        "happened_on": _l("Date"), "actor": _l("By"), "action": _l("Action"), "right": _l("Right"),
        "grantee": _l("Person"), "organisation": _l("Organisation"),
        "object_type": _l("Object type"), "object_id": _l("Object"),
    }
    base_order = ("happened_on", "desc")
    value_labels = {"right": role_label}  # a role, or a desk's object right (as it is)


def register(appbuilder):
    appbuilder.add_view(RoleGrantView, "Delegations", icon="fa-key", label=_l("Delegated rights"),
                        category="Administration")
    appbuilder.add_view(DelegationLogView, "DelegationLog", icon="fa-history", label=_l("Delegation log"),
                        category="Administration")
