"""Organisations and memberships: the tenants every desk's rows belong to."""
from flask import flash, redirect
from flask_appbuilder.actions import action
from flask_babel import lazy_gettext as _l, ngettext

from ..extensions import db
from ..models import Membership, Organisation
from ..rules import platform as rules
from ..security import ScopedInterface
from .base import GuichetModelRestApi, GuichetModelView

MEMBERSHIP_LABELS = {
    "user": _l("User"),
    "organisation": _l("Organisation"),
    "created_on": _l("Created on"),
    "changed_on": _l("Changed on"),
}
ORGANISATION_LABELS = {
    "name": _l("Name"),
    "kind": _l("Kind"),
    "city": _l("City"),
    "email": _l("Email"),
    "active": _l("Active"),
    "created_on": _l("Created on"),
    "changed_on": _l("Changed on"),
}


class MembershipView(GuichetModelView):
    datamodel = ScopedInterface(Membership)
    route_base = "/memberships"
    list_title = _l("Memberships")
    show_title = _l("Membership")
    add_title = _l("Add a membership")
    edit_title = _l("Edit a membership")
    list_columns = ["user", "organisation", "created_on"]
    show_columns = ["user", "organisation", "created_on", "changed_on"]
    add_columns = edit_columns = ["user", "organisation"]
    search_columns = ["user", "organisation"]
    label_columns = MEMBERSHIP_LABELS
    base_order = ("id", "asc")


class OrganisationView(GuichetModelView):
    datamodel = ScopedInterface(Organisation)
    route_base = "/organisations"
    list_title = _l("Organisations")
    show_title = _l("Organisation")
    add_title = _l("Add an organisation")
    edit_title = _l("Edit an organisation")
    list_columns = ["name", "kind", "city", "active"]
    show_columns = ["name", "kind", "city", "email", "active", "created_on", "changed_on"]
    add_columns = edit_columns = ["name", "kind", "city", "email", "active"]
    search_columns = ["name", "kind", "city", "active"]
    label_columns = ORGANISATION_LABELS
    related_views = [MembershipView]
    base_order = ("name", "asc")

    @action("set_inactive", _l("Deactivate"), _l("Deactivate the selected organisations?"), "fa-ban")
    def set_inactive(self, items):
        changed = rules.set_active(items if isinstance(items, list) else [items], False)
        db.session.commit()
        flash(ngettext("%(num)d organisation deactivated.", "%(num)d organisations deactivated.", changed), "success")
        return redirect(self.get_redirect())

    @action("set_active", _l("Activate"), _l("Activate the selected organisations?"), "fa-check")
    def set_active(self, items):
        changed = rules.set_active(items if isinstance(items, list) else [items], True)
        db.session.commit()
        flash(ngettext("%(num)d organisation activated.", "%(num)d organisations activated.", changed), "success")
        return redirect(self.get_redirect())


class OrganisationApi(GuichetModelRestApi):
    grid = OrganisationView
    resource_name = "organisation"


class MembershipApi(GuichetModelRestApi):
    grid = MembershipView
    resource_name = "membership"
    search_columns = ["organisation"]


def register(appbuilder):
    appbuilder.add_view(OrganisationView, "Organisations", icon="fa-building",
                        label=_l("Organisations"), category="Administration",
                        category_label=_l("Administration"), category_icon="fa-cogs")
    appbuilder.add_view(MembershipView, "Memberships", icon="fa-users",
                        label=_l("Memberships"), category="Administration")
    appbuilder.add_api(OrganisationApi)
    appbuilder.add_api(MembershipApi)
