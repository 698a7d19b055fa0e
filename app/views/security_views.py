"""FAB's security screens, in French: labels FAB leaves to its English defaults, and
values shown in the reader's language (`app.i18n.localise`).

Each class keeps FAB's class name, so its endpoint and permission names (those of
`ROLE_GRANTS`) are FAB's own. `GuichetSecurityManager` plugs them in, with FAB's security APIs.
"""
from flask_appbuilder.security.sqla.apis import (
    GroupApi as FabGroupApi,
    PermissionApi as FabPermissionApi,
    PermissionViewMenuApi as FabPermissionViewMenuApi,
    RoleApi as FabRoleApi,
    ViewMenuApi as FabViewMenuApi,
)
from flask_appbuilder.security.views import (
    RoleModelView as FabRoleModelView,
    UserDBModelView as FabUserDBModelView,
    UserGroupModelView as FabUserGroupModelView,
    UserModelView,
    UserStatsChartView as FabUserStatsChartView,
)
from flask_babel import lazy_gettext as _l

from ..i18n import localise
from .base import AnswersInputs


class UserDBModelView(FabUserDBModelView):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        localise(self)


class RoleModelView(FabRoleModelView):
    # Searchable columns FAB leaves unlabelled.
    label_columns = {**FabRoleModelView.label_columns, "user": _l("Users"), "groups": _l("Groups")}


class UserGroupModelView(FabUserGroupModelView):
    label_columns = {
        "name": _l("Name"),
        "label": _l("Label"),
        "description": _l("Description"),
        "users": _l("Users"),
        "roles": _l("Roles"),
    }

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        localise(self)


class UserStatsChartView(FabUserStatsChartView):
    # The search form offers the user list's columns: give them its labels.
    label_columns = {**UserModelView.label_columns, **FabUserStatsChartView.label_columns}
    definitions = [
        {"label": _l("Login count"), "group": "username", "series": ["login_count"]},
        {"label": _l("Failed login count"), "group": "username", "series": ["fail_login_count"]},
    ]

    def __init__(self, **kwargs):
        # FAB's chart renames each series after its column ("Login Count"), in place:
        # on a copy of the class's labels, given back ours after.
        self.label_columns = dict(self.label_columns)
        super().__init__(**kwargs)
        self.label_columns.update(login_count=_l("Login count"), fail_login_count=_l("Failed login count"))


# FAB's security APIs, answering wrong input with a 4xx naming the field (never its
# 500 "Fatal error" nor the database's text: app.views.base.AnswersInputs), with
# titles and labels in the reader's language (FAB makes up English ones).
class RoleApi(AnswersInputs, FabRoleApi):
    list_title, show_title, add_title, edit_title = (
        _l("List Roles"), _l("Show Role"), _l("Add Role"), _l("Edit Role"))
    label_columns = {"id": _l("ID"), "name": _l("Name")}


class GroupApi(AnswersInputs, FabGroupApi):
    list_title, show_title, add_title, edit_title = (
        _l("List Groups"), _l("Show Group"), _l("Add Group"), _l("Edit Group"))
    label_columns = {"id": _l("ID"), "name": _l("Name"), "label": _l("Label"), "description": _l("Description"),
                     "roles": _l("Roles"), "roles.id": _l("Role ids"), "roles.name": _l("Roles"),
                     "users": _l("Users"), "users.id": _l("User ids"), "users.username": _l("Users")}


class PermissionApi(AnswersInputs, FabPermissionApi):
    list_title, show_title, add_title, edit_title = (
        _l("List Base Permissions"), _l("Show Base Permission"), _l("Add Base Permission"),
        _l("Edit Base Permission"))
    label_columns = {"id": _l("ID"), "name": _l("Name")}


class ViewMenuApi(AnswersInputs, FabViewMenuApi):
    list_title, show_title, add_title, edit_title = (
        _l("List View Menus"), _l("Show View Menu"), _l("Add View Menu"), _l("Edit View Menu"))
    label_columns = {"id": _l("ID"), "name": _l("Name")}


class PermissionViewMenuApi(AnswersInputs, FabPermissionViewMenuApi):
    list_title, show_title, add_title, edit_title = (
        _l("List Permissions on Views/Menus"), _l("Show Permission on Views/Menus"),
        _l("Add Permission on Views/Menus"), _l("Edit Permission on Views/Menus"))
    label_columns = {"id": _l("ID"), "permission": _l("Permission"), "permission.name": _l("Permission"),
                     "permission_id": _l("Permission"), "view_menu": _l("View/Menu"),
                     "view_menu.name": _l("View/Menu"), "view_menu_id": _l("View/Menu")}


# The security manager's attributes these views replace (app/security.py).
SECURITY_VIEWS = {
    "userdbmodelview": UserDBModelView,
    "rolemodelview": RoleModelView,
    "groupmodelview": UserGroupModelView,
    "userstatschartview": UserStatsChartView,
    "role_api": RoleApi,
    "group_api": GroupApi,
    "permission_api": PermissionApi,
    "view_menu_api": ViewMenuApi,
    "permission_view_menu_api": PermissionViewMenuApi,
}
