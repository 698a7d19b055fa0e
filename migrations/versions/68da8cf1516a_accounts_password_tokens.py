"""accounts: password tokens

Revision ID: 68da8cf1516a
Revises: 4be96089fbbc
Create Date: 2026-11-23 06:35:25.234322

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '68da8cf1516a'
down_revision = '4be96089fbbc'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('password_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.Enum('set', 'reset', name='password_token_purpose', native_enum=False, length=10), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('created_on', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('password_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_password_token_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('password_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_password_token_user_id'))

    op.drop_table('password_token')
