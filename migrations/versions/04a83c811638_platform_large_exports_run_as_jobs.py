"""Platform: large grid exports are written by a job (ExportFile)

Revision ID: 04a83c811638
Revises: f284cf677739
Create Date: 2026-12-01 22:47:11.160252

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '04a83c811638'
down_revision = 'f284cf677739'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('export_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('grid', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('format', sa.String(length=4), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('locale', sa.String(length=10), nullable=False),
    sa.Column('state', sa.Enum('queued', 'running', 'ready', 'failed', name='export_state', native_enum=False, length=10), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('rows_done', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('storage_path', sa.String(length=255), nullable=True),
    sa.Column('finished_on', sa.DateTime(), nullable=True),
    sa.Column('created_on', sa.DateTime(), nullable=False),
    sa.Column('changed_on', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['changed_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('storage_path')
    )
    with op.batch_alter_table('export_file', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_export_file_user_id'), ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('export_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_export_file_user_id'))

    op.drop_table('export_file')
