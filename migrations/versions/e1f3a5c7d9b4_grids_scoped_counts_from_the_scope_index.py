"""Desk grids: scoped counts read the scope's index alone (it carries the searched text: desk A's session names, desk B's titles, desk E's operator references; desk C's support desk index carries its scope and status)

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
    op.drop_index('ix_ent_request_grid_support_desk', table_name='ent_request')
    op.create_index('ix_ent_request_grid_support_desk', 'ent_request', ['support_desk_id', 'id'],
                    postgresql_include=['escalated_on', 'requester_id', 'status'])


def downgrade():
    op.drop_index('ix_ent_request_grid_support_desk', table_name='ent_request')
    op.create_index('ix_ent_request_grid_support_desk', 'ent_request', ['support_desk_id', 'id'])
    op.drop_index('ix_ticket_grid_project', table_name='ticket')
    op.drop_index('ix_operator_order_grid_organisation', table_name='operator_order')
    op.create_index('ix_operator_order_grid_organisation', 'operator_order', ['organisation_id', 'id'])
    op.drop_index('ix_booking_grid_organisation', table_name='booking')
    op.create_index('ix_booking_grid_organisation', 'booking', ['organisation_id', 'start_at', 'id'])
