"""desk D: signed QR tickets (an event's key pair, a place's ticket secret)

Revision ID: e6b1f2a9c4d3
Revises: 4291085dd7be
Create Date: 2026-12-02 08:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e6b1f2a9c4d3'
down_revision = '4291085dd7be'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('event_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signing_key', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('public_key', sa.LargeBinary(length=32), nullable=True))
    with op.batch_alter_table('event_reservation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ticket_secret', sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table('event_reservation', schema=None) as batch_op:
        batch_op.drop_column('ticket_secret')
    with op.batch_alter_table('event_event', schema=None) as batch_op:
        batch_op.drop_column('public_key')
        batch_op.drop_column('signing_key')
