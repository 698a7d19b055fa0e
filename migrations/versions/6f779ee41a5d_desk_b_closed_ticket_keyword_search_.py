"""desk B: closed-ticket keyword search index

The project page searches its closed tickets by keyword, latest closed first
(app/rules/tickets.py, closed_tickets). This revision

* replaces ix_ticket_project_state (project_id, state, closed_on) by
  ix_ticket_project_closed (project_id, state, closed_on, id): read backwards, it
  gives a project's closed tickets in the page's exact order;
* on PostgreSQL, indexes the trigrams of the closed tickets' search text (subject
  and description, app.models.TICKET_SEARCH_TEXT) per project, in one GIN index
  (btree_gin puts project_id in it), and creates statistics on that text so that
  the planner knows a common word from a rare one;
* drops the description's own trigram index, which only the search used.

Revision ID: 6f779ee41a5d
Revises: 338a5f8bc3f7
Create Date: 2026-11-23 07:46:14.007591

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '6f779ee41a5d'
down_revision = '338a5f8bc3f7'
branch_labels = None
depends_on = None

# app.models.TICKET_SEARCH_TEXT, as PostgreSQL prints it back; the search's queries use it.
SEARCH_TEXT = "(title || ' ') || coalesce(description, '')"


def upgrade():
    bind = op.get_bind()
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_project_state')
        batch_op.drop_index('ix_ticket_description_trgm')
        batch_op.create_index('ix_ticket_project_closed', ['project_id', 'state', 'closed_on', 'id'], unique=False)
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(f"CREATE INDEX ix_ticket_closed_search ON ticket USING gin "
                   f"(project_id, ({SEARCH_TEXT}) gin_trgm_ops) WHERE state = 'closed'")
        if bind.dialect.server_version_info >= (14,):  # statistics on an expression
            op.execute(f"CREATE STATISTICS ticket_search_text ON (({SEARCH_TEXT})) FROM ticket")
        op.execute("ANALYZE ticket")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS ticket_search_text")
        op.execute("DROP INDEX ix_ticket_closed_search")
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_project_closed')
        batch_op.create_index('ix_ticket_description_trgm', ['description'], unique=False,
                              postgresql_using='gin', postgresql_ops={'description': 'gin_trgm_ops'})
        batch_op.create_index('ix_ticket_project_state', ['project_id', 'state', 'closed_on'], unique=False)
