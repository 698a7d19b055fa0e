"""desk D: check-in entries (one live entry per place, undone entries kept)

Revision ID: c7d4e1a8b2f6
Revises: b8d4f1c2e7a9
Create Date: 2026-12-02 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7d4e1a8b2f6'
down_revision = 'b8d4f1c2e7a9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('event_check_in',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('reservation_id', sa.Integer(), nullable=False),
    sa.Column('checked_in_on', sa.DateTime(), nullable=False),
    sa.Column('recorded_on', sa.DateTime(), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('offline', sa.Boolean(), nullable=False),
    sa.Column('undone_on', sa.DateTime(), nullable=True),
    sa.Column('undone_by_id', sa.Integer(), nullable=True),
    sa.Column('undo_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['event_id'], ['event_event.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reservation_id'], ['event_reservation.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['undone_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id', 'nonce', name='uq_event_check_in_nonce')
    )
    with op.batch_alter_table('event_check_in', schema=None) as batch_op:
        batch_op.create_index('ix_event_check_in_by', ['event_id', 'by_id', 'id'], unique=False)
        batch_op.create_index('ix_event_check_in_event_live', ['event_id', 'undone_on'], unique=False)
        batch_op.create_index('uq_event_check_in_live', ['reservation_id'], unique=True,
                              postgresql_where=sa.text('undone_on IS NULL'), sqlite_where=sa.text('undone_on IS NULL'))


def downgrade():
    with op.batch_alter_table('event_check_in', schema=None) as batch_op:
        batch_op.drop_index('uq_event_check_in_live', postgresql_where=sa.text('undone_on IS NULL'),
                            sqlite_where=sa.text('undone_on IS NULL'))
        batch_op.drop_index('ix_event_check_in_event_live')
        batch_op.drop_index('ix_event_check_in_by')
    op.drop_table('event_check_in')
