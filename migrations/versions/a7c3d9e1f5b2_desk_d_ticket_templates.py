"""desk D: a ticket type's PDF template image

Revision ID: a7c3d9e1f5b2
Revises: e6b1f2a9c4d3
Create Date: 2026-12-02 14:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c3d9e1f5b2'
down_revision = 'e6b1f2a9c4d3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('event_ticket_type', schema=None) as batch_op:
        batch_op.add_column(sa.Column('template_file_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_event_ticket_type_template_file', 'stored_file', ['template_file_id'],
                                    ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('event_ticket_type', schema=None) as batch_op:
        batch_op.drop_constraint('fk_event_ticket_type_template_file', type_='foreignkey')
        batch_op.drop_column('template_file_id')
