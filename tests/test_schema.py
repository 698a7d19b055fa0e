"""The schema comes from the migrations, and the migrations match the models."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder import Model
from sqlalchemy import inspect

from app.extensions import db


def test_upgrade_builds_every_table(app):
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
    assert {"organisation", "membership", "ab_user", "ab_role", "alembic_version"} <= tables


def test_models_and_migrations_agree(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Model.metadata)
    assert differences == [], f"models and migrations differ; run `flask db migrate`: {differences}"
