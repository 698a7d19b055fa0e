"""platform: the export job writes desks' documents too (ExportFile.document; formats such as tar.gz)

Revision ID: b8d4f1c2e7a9
Revises: a3c5e7f9b1d2
Create Date: 2026-12-02 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b8d4f1c2e7a9'
down_revision = 'a3c5e7f9b1d2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('export_file', schema=None) as batch_op:
        batch_op.add_column(sa.Column('document', sa.String(length=100), nullable=True))
        batch_op.alter_column('grid', existing_type=sa.String(length=100), nullable=True)
        batch_op.alter_column('format', existing_type=sa.String(length=4), type_=sa.String(length=10),
                              existing_nullable=False)
        batch_op.create_check_constraint('ck_export_file_grid_or_document', '(grid IS NULL) <> (document IS NULL)')


def downgrade():
    op.execute("DELETE FROM export_file WHERE document IS NOT NULL")
    with op.batch_alter_table('export_file', schema=None) as batch_op:
        batch_op.drop_constraint('ck_export_file_grid_or_document', type_='check')
        batch_op.alter_column('format', existing_type=sa.String(length=10), type_=sa.String(length=4),
                              existing_nullable=False)
        batch_op.alter_column('grid', existing_type=sa.String(length=100), nullable=False)
        batch_op.drop_column('document')
