"""desk B: agents' work (internal notes, canned answers, the overdue clock); platform: reply addresses

Revision ID: a7c3e91d5b20
Revises: 04a83c811638
Create Date: 2026-12-08 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c3e91d5b20'
down_revision = '04a83c811638'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ticket_canned_answer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vendor_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=150), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_on', sa.DateTime(), nullable=False),
    sa.Column('changed_on', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['changed_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['vendor_id'], ['organisation.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('vendor_id', 'title')
    )
    op.create_index(op.f('ix_ticket_canned_answer_vendor_id'), 'ticket_canned_answer', ['vendor_id'], unique=False)
    with op.batch_alter_table('ticket') as batch_op:
        batch_op.add_column(sa.Column('awaiting_vendor_since', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_ticket_awaiting_vendor', ['awaiting_vendor_since'], unique=False)
    with op.batch_alter_table('ticket_comment') as batch_op:
        batch_op.add_column(sa.Column('internal', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('outbox_mail') as batch_op:
        batch_op.add_column(sa.Column('reply_to', sa.String(length=254), nullable=True))
    # Tickets no one at the vendor has answered yet wait since their creation;
    # returned ones since their return.
    op.execute("UPDATE ticket SET awaiting_vendor_since = created_on WHERE state = 'new'")
    op.execute("UPDATE ticket SET awaiting_vendor_since = changed_on WHERE state = 'returned'")


def downgrade():
    with op.batch_alter_table('outbox_mail') as batch_op:
        batch_op.drop_column('reply_to')
    with op.batch_alter_table('ticket_comment') as batch_op:
        batch_op.drop_column('internal')
    with op.batch_alter_table('ticket') as batch_op:
        batch_op.drop_index('ix_ticket_awaiting_vendor')
        batch_op.drop_column('awaiting_vendor_since')
    op.drop_index(op.f('ix_ticket_canned_answer_vendor_id'), table_name='ticket_canned_answer')
    op.drop_table('ticket_canned_answer')
