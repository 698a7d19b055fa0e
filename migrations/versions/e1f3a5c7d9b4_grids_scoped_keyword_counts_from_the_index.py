"""Desk grids: a scoped "contains" search counts its matches from the scope's index (the searched text included: desk A's session names, desk B's titles, desk E's operator references)

Revision ID: e1f3a5c7d9b4
Revises: d407f2779c63
Create Date: 2026-12-07 15:10:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e1f3a5c7d9b4'
down_revision = 'd407f2779c63'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_booking_grid_organisation', table_name='booking')
    op.create_index('ix_booking_grid_organisation', 'booking', ['organisation_id', 'start_at', 'id'],
                    postgresql_include=['session_name'])
    op.drop_index('ix_operator_order_grid_organisation', table_name='operator_order')
    op.create_index('ix_operator_order_grid_organisation', 'operator_order', ['organisation_id', 'id'],
                    postgresql_include=['operator_reference'])
    op.create_index('ix_ticket_grid_project', 'ticket', ['project_id', 'created_on', 'id'],
                    postgresql_include=['title'])


def downgrade():
    op.drop_index('ix_ticket_grid_project', table_name='ticket')
    op.drop_index('ix_operator_order_grid_organisation', table_name='operator_order')
    op.create_index('ix_operator_order_grid_organisation', 'operator_order', ['organisation_id', 'id'])
    op.drop_index('ix_booking_grid_organisation', table_name='booking')
    op.create_index('ix_booking_grid_organisation', 'booking', ['organisation_id', 'start_at', 'id'])
