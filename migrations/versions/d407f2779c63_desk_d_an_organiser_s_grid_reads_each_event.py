"""desk D: an organiser's places grid reads each of their events in its order (by id, state, price); the sponsor's index leads with the sponsor

Revision ID: d407f2779c63
Revises: ad0fd0bd6c56
Create Date: 2026-12-03 15:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd407f2779c63'
down_revision = 'ad0fd0bd6c56'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('event_reservation', schema=None) as batch_op:
        batch_op.drop_index('ix_event_reservation_sponsor')
        batch_op.create_index('ix_event_reservation_sponsor', ['sponsor_id', 'event_id'], unique=False)
        batch_op.create_index('ix_event_reservation_grid_event', ['event_id', 'id'], unique=False)
        batch_op.create_index('ix_event_reservation_grid_event_state', ['event_id', 'state', 'id'], unique=False)
        batch_op.create_index('ix_event_reservation_grid_event_price', ['event_id', 'price', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('event_reservation', schema=None) as batch_op:
        batch_op.drop_index('ix_event_reservation_grid_event_price')
        batch_op.drop_index('ix_event_reservation_grid_event_state')
        batch_op.drop_index('ix_event_reservation_grid_event')
        batch_op.drop_index('ix_event_reservation_sponsor')
        batch_op.create_index('ix_event_reservation_sponsor', ['event_id', 'sponsor_id'], unique=False)
