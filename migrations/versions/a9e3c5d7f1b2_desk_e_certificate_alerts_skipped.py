"""desk E: certificate alerts skipped (thresholds crossed together with a nearer one)

A skipped threshold's alert is never sent: the nearer one's went instead.

Revision ID: a9e3c5d7f1b2
Revises: c26981439f76
Create Date: 2026-12-03 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a9e3c5d7f1b2'
down_revision = 'c26981439f76'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('certificate_alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skipped', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('certificate_alert', schema=None) as batch_op:
        batch_op.drop_column('skipped')
