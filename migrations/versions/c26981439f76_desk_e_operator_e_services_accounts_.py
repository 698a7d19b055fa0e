"""desk E operator: e-services, accounts, entitlements, certificates, buildings, offers

The e-service catalogue is reference data the product ships (the seed's "Gestion des
droits" columns), so it is written here; operators' subscriptions are not. On
PostgreSQL the buildings' normalised addresses get a trigram index (pg_trgm).

Revision ID: c26981439f76
Revises: c7d4e1a8b2f6
Create Date: 2026-12-02 18:22:03.958873

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c26981439f76'
down_revision = 'c7d4e1a8b2f6'
branch_labels = None
depends_on = None


# code, name, category; in the order of the rights screen
CATALOGUE = [
    ("e-pricer", "e-pricer", "pre_sales"),
    ("eligibility", "Eligibilité", "pre_sales"),
    ("unbundling-eligibility", "Eligibilité dégroupage", "pre_sales"),
    ("setiar", "SETIAR", "pre_sales"),
    ("e-blc", "e-BLC", "pre_sales"),
    ("special-site", "Site particulier", "pre_sales"),
    ("tao", "Translation d'Adresses Opérateur (TAO)", "pre_sales"),
    ("grafic", "Grafic", "pre_sales"),
    ("fci", "FCI (Frontal Commande Intégré)", "orders"),
    ("e-rdv-business", "e-RDV entreprise", "orders"),
    ("e-rdv", "e-RDV Grand Public", "orders"),
    ("e-just-fibre", "e-Just Fibre", "orders"),
    ("data-orders", "Suivi de commandes data", "orders"),
    ("e-sav-test", "e-SAV Test", "after_sales"),
    ("e-sav-signal", "e-SAV Signalisation", "after_sales"),
    ("file-deposit", "Dépôt et visualisation de fichiers", "documents"),
    ("file-retrieval", "Récupération de fichiers", "documents"),
    ("invoices", "Factures et annexes", "documents"),
    ("certificates", "Mes certificats numériques", "documents"),
]


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table('building',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('imb_id', sa.String(length=30), nullable=False),
    sa.Column('state', sa.Enum('target', 'signed', 'deploying', 'available', 'abandoned', name='building_state', native_enum=False, length=20), nullable=False),
    sa.Column('oi_code', sa.String(length=10), nullable=True),
    sa.Column('building_name', sa.String(length=50), nullable=True),
    sa.Column('extra_info', sa.String(length=200), nullable=True),
    sa.Column('street_number', sa.Integer(), nullable=True),
    sa.Column('number_suffix', sa.String(length=10), nullable=True),
    sa.Column('street_name', sa.String(length=150), nullable=False),
    sa.Column('postcode', sa.String(length=5), nullable=True),
    sa.Column('commune', sa.String(length=100), nullable=False),
    sa.Column('insee_code', sa.String(length=5), nullable=False),
    sa.Column('rivoli_code', sa.String(length=4), nullable=True),
    sa.Column('address_key', sa.String(length=300), nullable=False),
    sa.Column('x_l93', sa.Float(), nullable=False),
    sa.Column('y_l93', sa.Float(), nullable=False),
    sa.Column('longitude', sa.Float(), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=False),
    sa.Column('dwellings', sa.Integer(), nullable=False),
    sa.Column('access_acceptance_from', sa.Date(), nullable=True),
    sa.Column('access_supply_from', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('imb_id')
    )
    with op.batch_alter_table('building', schema=None) as batch_op:
        batch_op.create_index('ix_building_address_key_trgm', ['address_key'], unique=False, postgresql_using='gin', postgresql_ops={'address_key': 'gin_trgm_ops'})
        batch_op.create_index('ix_building_l93', ['x_l93', 'y_l93'], unique=False)
        batch_op.create_index('ix_building_street', ['insee_code', 'rivoli_code', 'street_number'], unique=False)

    op.create_table('eservice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('category', sa.Enum('pre_sales', 'orders', 'after_sales', 'documents', name='eservice_group', native_enum=False, length=20), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code'),
    sa.UniqueConstraint('name')
    )
    op.create_table('offer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('technology', sa.String(length=20), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('building_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('building_id', sa.Integer(), nullable=False),
    sa.Column('line_number', sa.String(length=20), nullable=False),
    sa.Column('floor', sa.String(length=20), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['building_id'], ['building.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('line_number')
    )
    with op.batch_alter_table('building_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_building_line_building_id'), ['building_id'], unique=False)

    op.create_table('building_structure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('building_id', sa.Integer(), nullable=False),
    sa.Column('floor', sa.String(length=20), nullable=True),
    sa.Column('pm_ref', sa.String(length=40), nullable=True),
    sa.Column('pmt_ref', sa.String(length=40), nullable=True),
    sa.Column('pbo_ref', sa.String(length=40), nullable=True),
    sa.Column('pbo_type', sa.String(length=40), nullable=True),
    sa.Column('location_type', sa.String(length=40), nullable=True),
    sa.Column('patching_type', sa.String(length=40), nullable=True),
    sa.Column('works_nature', sa.String(length=40), nullable=True),
    sa.Column('pm_prdm_link', sa.String(length=60), nullable=True),
    sa.Column('ftth_premises', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['building_id'], ['building.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('building_structure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_building_structure_building_id'), ['building_id'], unique=False)

    op.create_table('eligibility_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['offer.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('eligibility_rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_eligibility_rule_offer_id'), ['offer_id'], unique=False)

    op.create_table('certificate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('eservice_id', sa.Integer(), nullable=False),
    sa.Column('environment', sa.Enum('production', 'non_production', name='certificate_environment', native_enum=False, length=20), nullable=False),
    sa.Column('label', sa.String(length=150), nullable=False),
    sa.Column('published_on', sa.Date(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=True),
    sa.Column('fingerprint', sa.String(length=100), nullable=True),
    sa.Column('created_on', sa.DateTime(), nullable=False),
    sa.Column('changed_on', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['changed_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['eservice_id'], ['eservice.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['file_id'], ['stored_file.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.create_index('ix_certificate_expires_on', ['expires_on'], unique=False)
        batch_op.create_index('ix_certificate_renewal', ['organisation_id', 'eservice_id', 'environment', 'expires_on'], unique=False)

    op.create_table('entitlement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('eservice_id', sa.Integer(), nullable=False),
    sa.Column('granted_by_id', sa.Integer(), nullable=True),
    sa.Column('granted_on', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['eservice_id'], ['eservice.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['granted_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'organisation_id', 'eservice_id')
    )
    with op.batch_alter_table('entitlement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_entitlement_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_entitlement_user_id'), ['user_id'], unique=False)

    op.create_table('operator_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('fixed_phone', sa.String(length=20), nullable=True),
    sa.Column('mobile_phone', sa.String(length=20), nullable=True),
    sa.Column('created_on', sa.DateTime(), nullable=False),
    sa.Column('changed_on', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['changed_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id')
    )
    with op.batch_alter_table('operator_account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operator_account_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('operator_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('eservice_id', sa.Integer(), nullable=False),
    sa.Column('created_on', sa.DateTime(), nullable=False),
    sa.Column('changed_on', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['changed_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['eservice_id'], ['eservice.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('organisation_id', 'eservice_id')
    )
    with op.batch_alter_table('operator_subscription', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operator_subscription_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('certificate_alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('sent_on', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificate.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('certificate_id', 'threshold')
    )
    op.create_table('certificate_download',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('downloaded_on', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificate.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('certificate_download', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificate_download_certificate_id'), ['certificate_id'], unique=False)

    eservice = sa.table("eservice", sa.column("code"), sa.column("name"), sa.column("category"),
                        sa.column("position"))
    op.bulk_insert(eservice, [{"code": code, "name": name, "category": category, "position": position}
                              for position, (code, name, category) in enumerate(CATALOGUE, start=1)])


def downgrade():
    with op.batch_alter_table('certificate_download', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificate_download_certificate_id'))

    op.drop_table('certificate_download')
    op.drop_table('certificate_alert')
    with op.batch_alter_table('operator_subscription', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_operator_subscription_organisation_id'))

    op.drop_table('operator_subscription')
    with op.batch_alter_table('operator_account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_operator_account_organisation_id'))

    op.drop_table('operator_account')
    with op.batch_alter_table('entitlement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_entitlement_user_id'))
        batch_op.drop_index(batch_op.f('ix_entitlement_organisation_id'))

    op.drop_table('entitlement')
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.drop_index('ix_certificate_renewal')
        batch_op.drop_index('ix_certificate_expires_on')

    op.drop_table('certificate')
    with op.batch_alter_table('eligibility_rule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_eligibility_rule_offer_id'))

    op.drop_table('eligibility_rule')
    with op.batch_alter_table('building_structure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_building_structure_building_id'))

    op.drop_table('building_structure')
    with op.batch_alter_table('building_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_building_line_building_id'))

    op.drop_table('building_line')
    op.drop_table('offer')
    op.drop_table('eservice')
    with op.batch_alter_table('building', schema=None) as batch_op:
        batch_op.drop_index('ix_building_street')
        batch_op.drop_index('ix_building_l93')
        batch_op.drop_index('ix_building_address_key_trgm', postgresql_using='gin', postgresql_ops={'address_key': 'gin_trgm_ops'})

    op.drop_table('building')
