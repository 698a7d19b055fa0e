"""The Flask extensions, created once and bound to each app by create_app()."""
import click
from flask_appbuilder.models.sqla.base import SQLA
from flask_wtf.csrf import CSRFProtect

db = SQLA()
# Every form post carries a token; FAB exempts its REST APIs (they use JWT or the session).
csrf = CSRFProtect()


def init_migrations(app, directory):
    """Flask-Migrate, bound to `app` when first used (`flask db`, `flask_migrate.upgrade()`).

    It imports Alembic, Mako and Pygments (~8 MB of RSS) that no request nor job needs:
    until then `app.extensions["migrate"]` and `flask db` are stand-ins that bind it.
    """
    app.extensions["migrate"] = _PendingMigrate(app, directory)
    app.cli.add_command(_PendingMigrateCommands(app, directory))


def _bind_migrate(app, directory):
    from flask_migrate import Migrate

    # Replaces the stand-ins with Flask-Migrate's own config and `db` group.
    Migrate(app, db, directory=directory, compare_type=True, render_as_batch=True)


class _PendingMigrate:
    """`app.extensions["migrate"]` until something reads it."""

    def __init__(self, app, directory):
        self._app, self._directory = app, directory

    def __getattr__(self, name):
        if name.startswith("_"):  # not Flask-Migrate's config (and no recursion before __init__)
            raise AttributeError(name)
        _bind_migrate(self._app, self._directory)
        return getattr(self._app.extensions["migrate"], name)


class _PendingMigrateCommands(click.Command):
    """`flask db`: Flask-Migrate's group, imported when the command runs."""

    def __init__(self, app, directory):
        super().__init__("db", help="Perform database migrations.")
        self._app, self._directory = app, directory

    def make_context(self, info_name, args, parent=None, **extra):
        _bind_migrate(self._app, self._directory)
        return self._app.cli.get_command(parent, "db").make_context(info_name, args, parent=parent, **extra)
