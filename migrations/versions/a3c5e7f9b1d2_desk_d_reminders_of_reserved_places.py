"""desk D: the reminder of a reserved place, sent once the day before its event

Revision ID: a3c5e7f9b1d2
Revises: a7c3d9e1f5b2
Create Date: 2026-12-03 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a3c5e7f9b1d2'
down_revision = 'a7c3d9e1f5b2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('event_reservation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminded_on', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('event_reservation', schema=None) as batch_op:
        batch_op.drop_column('reminded_on')
