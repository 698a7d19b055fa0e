"""The platform's rows and rights: organisations, memberships and people, the
notification feed and the outbox, delegated rights and their log; what every
signed-in person may do, and what delegating users may do besides."""
from flask_appbuilder.security.sqla.models import Role, User
from sqlalchemy import and_, false, or_, select

from ..models import (
    DelegationLog,
    ExportFile,
    Membership,
    Notification,
    Organisation,
    OutboxMail,
    Payment,
    PaymentAccount,
    RoleGrant,
)
from ..security import (
    ADMIN,
    API_READ,
    DELEGATING_ROLES,
    EXPORT,
    READ,
    ROLE_NAMES,
    Viewer,
    by_organisation,
    grantable_role_names,
    grant,
    grants,
    scope,
)

# What every signed-in person may do: their own profile, password, language, feed, leaving.
SELF_SERVICE = [
    ("can_userinfo", "UserDBModelView"),
    ("resetmypassword", "UserDBModelView"),
    ("userinfoedit", "UserDBModelView"),
    ("can_this_form_get", "ResetMyPasswordView"),
    ("can_this_form_post", "ResetMyPasswordView"),
    ("can_this_form_get", "UserInfoEditView"),
    ("can_this_form_post", "UserInfoEditView"),
    # Deleting their own account (app.platform.accounts.leave says whether and when).
    ("can_leave", "MyAccount"),
    # Their own notification feed (row scope: their notifications only).
    ("can_list", "NotificationView"),
    ("can_show", "NotificationView"),
    ("can_export", "NotificationView"),
    ("mark_read", "NotificationView"),
    # Their own large exports (row scope: theirs only).
    ("can_progress", "ExportView"),
    ("can_status", "ExportView"),
    ("can_download", "ExportView"),
]

# Every role reads, through the API, the organisations it belongs to and their members
# (row scope narrows the rows), and downloads the files of rows it sees.
MEMBER_READ = (
    grants("OrganisationApi", API_READ)
    + grants("MembershipApi", API_READ)
    + grants("FileView", ("can_download",))
)

# Those who may delegate have the Administration menu: their organisations and their
# members, the delegation screens, and the creation of accounts in their own
# organisations (app/views/accounts.py). Admin holds every permission through FAB.
DELEGATE = (
    grants("OrganisationView", READ + EXPORT)
    + grants("MembershipView", READ + EXPORT)
    + grants("Organisations", ("menu_access",))
    + grants("Memberships", ("menu_access",))
    + grants("Administration", ("menu_access",))
    + grants("RoleGrantView", READ + EXPORT + ("can_add", "revoke"))
    + grants("DelegationLogView", READ + EXPORT)
    + grants("Delegations", ("menu_access",))
    + grants("DelegationLog", ("menu_access",))
    + grants("Accounts", ("can_create",))
    + grants("CreateAccount", ("menu_access",))
)

grant([name for name in ROLE_NAMES if name != ADMIN], SELF_SERVICE + MEMBER_READ)
grant(DELEGATING_ROLES, DELEGATE)


def colleagues(viewer: Viewer):
    """A person sees themself and the members of their organisations."""
    mine = User.id == viewer.user_id if viewer.user_id else false()
    if not viewer.organisation_ids:
        return mine
    shared = select(Membership.user_id).where(Membership.organisation_id.in_(viewer.organisation_ids))
    return mine | User.id.in_(shared)


def grantable_roles(viewer: Viewer):
    """The roles one may hand on: those one holds, the baseline roles and those one's
    delegating role hands out (drop-downs follow)."""
    if not viewer.roles:
        return false()
    return Role.name.in_(grantable_role_names(viewer.roles))


scope(Organisation, by_organisation(Organisation.id))
scope(Membership, by_organisation(Membership.organisation_id))
scope(User, colleagues)
# Notifications: each person sees their own feed; the outbox is Admin's alone.
scope(Notification, lambda viewer: Notification.user_id == viewer.user_id if viewer.user_id else false())
scope(OutboxMail, lambda viewer: false())
scope(ExportFile, lambda viewer: ExportFile.user_id == viewer.user_id if viewer.user_id else false())
scope(Role, grantable_roles)
scope(RoleGrant, by_organisation(RoleGrant.organisation_id))
scope(DelegationLog, by_organisation(DelegationLog.organisation_id))


#: {payable kind: rule(viewer) -> SQL criterion on Payment}: the payments of each kind a
#: viewer sees, as the desk that sells them decides (its app/access module registers it).
PAYMENT_SCOPES = {}


def payment_scope(kind: str, rule) -> None:
    PAYMENT_SCOPES[kind] = rule


def visible_payments(viewer: Viewer):
    criteria = [and_(Payment.payable_type == kind, rule(viewer)) for kind, rule in PAYMENT_SCOPES.items()]
    return or_(*criteria) if criteria else false()


# Payment accounts: the members of the organisation they pay see them (and choose them).
scope(PaymentAccount, by_organisation(PaymentAccount.organisation_id))
scope(Payment, visible_payments)
