"""desk C: a help request counts its history in a column (event_count)

Lists and exports read the column instead of counting each request's workflow
events (a correlated count per row cost more than the rest of an export together).
Existing requests get the count of their events.

Revision ID: c3a9d1e7f520
Revises: b5d2e8a41c07
Create Date: 2026-12-02 04:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3a9d1e7f520'
down_revision = 'b5d2e8a41c07'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ent_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_count', sa.Integer(), server_default='0', nullable=False))
    op.execute("""
        UPDATE ent_request SET event_count = (
            SELECT count(*) FROM workflow_event
            WHERE workflow_event.object_type = 'ent_request' AND workflow_event.object_id = ent_request.id)
    """)


def downgrade():
    with op.batch_alter_table('ent_request', schema=None) as batch_op:
        batch_op.drop_column('event_count')
