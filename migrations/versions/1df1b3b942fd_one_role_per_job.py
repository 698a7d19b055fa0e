"""platform: one role per job (Creator → Booker / Client, SupportAgent → VendorAgent / EntSupport)

A person holding a shared role gets the role of each job they do, read off their
organisations: a Creator of a member organisation books (Booker), one of a client
company files tickets (Client); a SupportAgent of a vendor running projects works
tickets (VendorAgent), one of an ENT support desk answers escalations (EntSupport).
Delegated grants follow their organisation; a group holding a shared role gets both.
The permissions of every role are rebuilt afterwards by `flask sync-roles`.

Revision ID: 1df1b3b942fd
Revises: 6f779ee41a5d
Create Date: 2026-12-01 20:00:00
"""
from alembic import op
from sqlalchemy import text

revision = '1df1b3b942fd'
down_revision = '6f779ee41a5d'
branch_labels = None
depends_on = None

NEW_ROLES = ("Booker", "Client", "VendorAgent", "EntSupport", "OperatorUser")


def _in(sql, ids):
    """`sql` with its `IN ({})` filled with integer ids (none: an id no row has)."""
    ids = [int(i) for i in ids] or [0]
    return text(sql.format(", ".join(str(i) for i in ids)))


def _booker_or_client(bind, organisation_ids):
    kinds = {kind for (kind,) in bind.execute(_in("SELECT kind FROM organisation WHERE id IN ({})",
                                                   organisation_ids))}
    roles = {"Client"} if "client" in kinds else set()
    if "member" in kinds or not roles:
        roles.add("Booker")
    return roles


def _vendor_or_support(bind, organisation_ids):
    roles = set()
    if bind.execute(_in("SELECT 1 FROM ticket_project WHERE vendor_id IN ({})", organisation_ids)).first():
        roles.add("VendorAgent")
    if bind.execute(_in("SELECT 1 FROM ent_establishment WHERE support_desk_id IN ({})",
                        organisation_ids)).first():
        roles.add("EntSupport")
    return roles or {"VendorAgent"}


SPLITS = {"Creator": _booker_or_client, "SupportAgent": _vendor_or_support}
BOTH = {"Creator": {"Booker", "Client"}, "SupportAgent": {"VendorAgent", "EntSupport"}}


def _role_id(bind, name):
    row = bind.execute(text("SELECT id FROM ab_role WHERE name = :name"), {"name": name}).first()
    return row[0] if row else None


def _ensure_role(bind, name):
    if _role_id(bind, name) is None:
        bind.execute(text("INSERT INTO ab_role (name) VALUES (:name)"), {"name": name})
    return _role_id(bind, name)


def _give(bind, table, owner_column, owner_id, role_id):
    held = bind.execute(text(f"SELECT 1 FROM {table} WHERE {owner_column} = :owner AND role_id = :role"),
                        {"owner": owner_id, "role": role_id}).first()
    if not held:
        bind.execute(text(f"INSERT INTO {table} ({owner_column}, role_id) VALUES (:owner, :role)"),
                     {"owner": owner_id, "role": role_id})


def _drop_role(bind, role_id):
    for table in ("ab_permission_view_role", "ab_user_role", "ab_group_role"):
        bind.execute(text(f"DELETE FROM {table} WHERE role_id = :role"), {"role": role_id})
    bind.execute(text("DELETE FROM ab_role WHERE id = :role"), {"role": role_id})


def upgrade():
    bind = op.get_bind()
    ids = {name: _ensure_role(bind, name) for name in NEW_ROLES}
    for old, split in SPLITS.items():
        old_id = _role_id(bind, old)
        if old_id is None:
            continue
        users = [uid for (uid,) in bind.execute(
            text("SELECT user_id FROM ab_user_role WHERE role_id = :role"), {"role": old_id})]
        for user_id in users:
            organisations = [oid for (oid,) in bind.execute(
                text("SELECT organisation_id FROM membership WHERE user_id = :user"), {"user": user_id})]
            for name in split(bind, organisations):
                _give(bind, "ab_user_role", "user_id", user_id, ids[name])
        groups = [gid for (gid,) in bind.execute(
            text("SELECT group_id FROM ab_group_role WHERE role_id = :role"), {"role": old_id})]
        for group_id in groups:
            for name in BOTH[old]:
                _give(bind, "ab_group_role", "group_id", group_id, ids[name])
        grants = bind.execute(text("SELECT id, organisation_id FROM role_grant WHERE role_id = :role"),
                              {"role": old_id}).all()
        for grant_id, organisation_id in grants:
            new_id = ids[sorted(split(bind, [organisation_id]))[0]]
            bind.execute(text("UPDATE role_grant SET role_id = :new WHERE id = :id"), {"new": new_id, "id": grant_id})
        _drop_role(bind, old_id)


def downgrade():
    bind = op.get_bind()
    for old, news in BOTH.items():
        old_id = _ensure_role(bind, old)
        for name in sorted(news):
            new_id = _role_id(bind, name)
            if new_id is None:
                continue
            for table, owner in (("ab_user_role", "user_id"), ("ab_group_role", "group_id")):
                owners = [oid for (oid,) in bind.execute(
                    text(f"SELECT {owner} FROM {table} WHERE role_id = :role"), {"role": new_id})]
                for owner_id in owners:
                    _give(bind, table, owner, owner_id, old_id)
            bind.execute(text("UPDATE role_grant SET role_id = :old WHERE role_id = :new"),
                         {"old": old_id, "new": new_id})
            _drop_role(bind, new_id)
    operator_user = _role_id(bind, "OperatorUser")
    if operator_user is not None:
        _drop_role(bind, operator_user)
