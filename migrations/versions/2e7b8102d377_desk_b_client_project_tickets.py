"""desk B: client-project tickets

Revision ID: 2e7b8102d377
Revises: ef4795c4e85a
Create Date: 2026-11-23 06:59:39.871860

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2e7b8102d377'
down_revision = 'ef4795c4e85a'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # Trigram indexes serve the keyword search over tickets (ILIKE '%word%').
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table('ticket_project',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=150), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('vendor_id', sa.Integer(), nullable=False),
    sa.Column('vendor_lead_id', sa.Integer(), nullable=False),
    sa.Column('client_lead_id', sa.Integer(), nullable=True),
    sa.Column('phase', sa.Enum('setup', 'operation', name='project_phase', native_enum=False, length=20), nullable=False),
    sa.Column('event_date', sa.Date(), nullable=True),
    sa.Column('setup_contact_id', sa.Integer(), nullable=True),
    sa.Column('support_mailbox', sa.String(length=254), nullable=True),
    sa.Column('created_on', sa.DateTime(), nullable=False),
    sa.Column('changed_on', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['changed_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['client_lead_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], ),
    sa.ForeignKeyConstraint(['setup_contact_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['vendor_id'], ['organisation.id'], ),
    sa.ForeignKeyConstraint(['vendor_lead_id'], ['ab_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticket_project', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_project_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_project_vendor_id'), ['vendor_id'], unique=False)

    op.create_table('ticket',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=7), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('page_url', sa.String(length=500), nullable=True),
    sa.Column('priority', sa.Enum('low', 'medium', 'high', 'blocking', name='ticket_priority', native_enum=False, length=20), nullable=False),
    sa.Column('priority_context', sa.Text(), nullable=True),
    sa.Column('state', sa.Enum('new', 'assigned', 'in_progress', 'waiting_rd', 'waiting_client', 'lead_followup', 'returned', 'processed', 'closed', name='ticket_state', native_enum=False, length=20), nullable=False),
    sa.Column('declarant_id', sa.Integer(), nullable=False),
    sa.Column('follower_id', sa.Integer(), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('closed_on', sa.DateTime(), nullable=True),
    sa.Column('created_on', sa.DateTime(), nullable=False),
    sa.Column('changed_on', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['assignee_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['changed_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['declarant_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['follower_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['ticket_project.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reference')
    )
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index('ix_ticket_declarant', ['declarant_id', 'created_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_priority'), ['priority'], unique=False)
        batch_op.create_index('ix_ticket_project_state', ['project_id', 'state', 'closed_on'], unique=False)
        batch_op.create_index('ix_ticket_state_created', ['state', 'created_on', 'id'], unique=False)
        batch_op.create_index('ix_ticket_title_trgm', ['title'], unique=False, postgresql_using='gin',
                              postgresql_ops={'title': 'gin_trgm_ops'})
        batch_op.create_index('ix_ticket_description_trgm', ['description'], unique=False,
                              postgresql_using='gin', postgresql_ops={'description': 'gin_trgm_ops'})

    op.create_table('ticket_project_viewer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_on', sa.DateTime(), nullable=False),
    sa.Column('changed_on', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['changed_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['ticket_project.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'user_id')
    )
    with op.batch_alter_table('ticket_project_viewer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_project_viewer_user_id'), ['user_id'], unique=False)

    op.create_table('ticket_comment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('created_on', sa.DateTime(), nullable=False),
    sa.Column('state', sa.Enum('new', 'assigned', 'in_progress', 'waiting_rd', 'waiting_client', 'lead_followup', 'returned', 'processed', 'closed', name='ticket_state', native_enum=False, length=20), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('attachment_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['attachment_id'], ['stored_file.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['author_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticket_comment', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_comment_ticket', ['ticket_id', 'created_on'], unique=False)



def downgrade():
    with op.batch_alter_table('ticket_comment', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_comment_ticket')

    op.drop_table('ticket_comment')
    with op.batch_alter_table('ticket_project_viewer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_project_viewer_user_id'))

    op.drop_table('ticket_project_viewer')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_description_trgm')
        batch_op.drop_index('ix_ticket_title_trgm')
        batch_op.drop_index('ix_ticket_state_created')
        batch_op.drop_index('ix_ticket_project_state')
        batch_op.drop_index(batch_op.f('ix_ticket_priority'))
        batch_op.drop_index(batch_op.f('ix_ticket_organisation_id'))
        batch_op.drop_index('ix_ticket_declarant')
        batch_op.drop_index(batch_op.f('ix_ticket_assignee_id'))

    op.drop_table('ticket')
    with op.batch_alter_table('ticket_project', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_project_vendor_id'))
        batch_op.drop_index(batch_op.f('ix_ticket_project_organisation_id'))

    op.drop_table('ticket_project')
