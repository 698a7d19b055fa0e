"""The schema comes from the migrations, and the migrations match the models."""
import pytest
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


def test_indexes_carry_the_columns_the_models_include(app):
    """compare_metadata does not look at an index's INCLUDE columns (PostgreSQL): the
    columns a grid's search counts from the index alone must be there."""
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name != "postgresql":
            pytest.skip("INCLUDE columns are PostgreSQL's")
        included = {name: list(columns or ()) for name, columns in connection.exec_driver_sql(
            "SELECT c.relname, array_agg(a.attname ORDER BY k.n) FILTER (WHERE k.n > i.indnkeyatts) "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = current_schema() "
            "GROUP BY c.relname")}
    expected = {index.name: list(index.dialect_options["postgresql"]["include"] or ())
                for table in Model.metadata.tables.values() for index in table.indexes}
    assert {name: included.get(name) for name in expected} == expected
