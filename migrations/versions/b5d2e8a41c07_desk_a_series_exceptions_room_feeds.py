"""desk A: series exceptions and room feeds; history rows keep what a change changed

* booking_occurrence.planned_start: the start the series' rule gives an occurrence
  (its RECURRENCE-ID), so that a date of the rule without an occurrence is a skipped
  date (EXDATE) and one whose start or room differs was moved; existing rows were
  never moved (planned_start = start_at).
* booking_occurrence.cancelled_on: one occurrence cancelled alone.
* booking_room.feed_token: the secret of a room's iCalendar feed URL.
* booking.creator_phone: where the VNOC calls the person who asked.
* workflow_event.changes: [[field, old, new]] of a change (a booking's modification).

Revision ID: b5d2e8a41c07
Revises: a7c3e91d5b20
Create Date: 2026-12-01 23:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b5d2e8a41c07'
down_revision = 'a7c3e91d5b20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('booking_occurrence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('planned_start', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('cancelled_on', sa.DateTime(), nullable=True))
    op.execute("UPDATE booking_occurrence SET planned_start = start_at")
    with op.batch_alter_table('booking_occurrence', schema=None) as batch_op:
        batch_op.alter_column('planned_start', existing_type=sa.DateTime(), nullable=False)

    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.add_column(sa.Column('creator_phone', sa.String(length=30), nullable=True))

    with op.batch_alter_table('booking_room', schema=None) as batch_op:
        batch_op.add_column(sa.Column('feed_token', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint('uq_booking_room_feed_token', ['feed_token'])

    with op.batch_alter_table('workflow_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changes', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('workflow_event', schema=None) as batch_op:
        batch_op.drop_column('changes')
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.drop_column('creator_phone')
    with op.batch_alter_table('booking_room', schema=None) as batch_op:
        batch_op.drop_constraint('uq_booking_room_feed_token', type_='unique')
        batch_op.drop_column('feed_token')
    with op.batch_alter_table('booking_occurrence', schema=None) as batch_op:
        batch_op.drop_column('cancelled_on')
        batch_op.drop_column('planned_start')
