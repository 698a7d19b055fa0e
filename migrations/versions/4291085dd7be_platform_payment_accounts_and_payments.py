"""platform: payment accounts and payments; desk D: the payment accounts of an event

Revision ID: 4291085dd7be
Revises: d5a028d71005
Create Date: 2026-12-02 09:12:27.509041

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4291085dd7be'
down_revision = 'd5a028d71005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('payment_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.Enum('paypal', 'lydia', name='payment_provider', native_enum=False, length=10), nullable=False),
    sa.Column('description', sa.String(length=150), nullable=False),
    sa.Column('receiver_email', sa.String(length=254), nullable=True),
    sa.Column('public_token', sa.String(length=100), nullable=True),
    sa.Column('sealed_private_token', sa.Text(), nullable=True),
    sa.Column('created_on', sa.DateTime(), nullable=False),
    sa.Column('changed_on', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['changed_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('payment_account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_account_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('payment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payable_type', sa.String(length=50), nullable=False),
    sa.Column('payable_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('provider', sa.Enum('paypal', 'lydia', name='payment_provider', native_enum=False, length=10), nullable=False),
    sa.Column('state', sa.Enum('created', 'pending', 'confirmed', 'failed', 'refunded', name='payment_state', native_enum=False, length=10), nullable=False),
    sa.Column('amount', sa.Numeric(precision=10, scale=2), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('request_id', sa.String(length=100), nullable=True),
    sa.Column('payer_email', sa.String(length=254), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('raw', sa.Text(), nullable=True),
    sa.Column('created_on', sa.DateTime(), nullable=False),
    sa.Column('changed_on', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['payment_account.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['changed_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('provider', 'reference', name='uq_payment_provider_reference')
    )
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_payment_payable', ['payable_type', 'payable_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_state'), ['state'], unique=False)

    with op.batch_alter_table('event_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paypal_account_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('lydia_account_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_event_event_lydia_account', 'payment_account', ['lydia_account_id'], ['id'])
        batch_op.create_foreign_key('fk_event_event_paypal_account', 'payment_account', ['paypal_account_id'], ['id'])



def downgrade():
    with op.batch_alter_table('event_event', schema=None) as batch_op:
        batch_op.drop_constraint('fk_event_event_lydia_account', type_='foreignkey')
        batch_op.drop_constraint('fk_event_event_paypal_account', type_='foreignkey')
        batch_op.drop_column('lydia_account_id')
        batch_op.drop_column('paypal_account_id')

    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_state'))
        batch_op.drop_index('ix_payment_payable')
        batch_op.drop_index(batch_op.f('ix_payment_account_id'))

    op.drop_table('payment')
    with op.batch_alter_table('payment_account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_account_organisation_id'))

    op.drop_table('payment_account')
