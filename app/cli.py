"""Commands: `flask sync-roles` and `flask demo-data`."""
import click
from flask import current_app

from . import demo


def register(app):
    @app.cli.command("sync-roles")
    def sync_roles_command():
        """Create every permission of every view, then every role with its grants."""
        sync_roles()
        click.echo("Permissions and roles are up to date.")

    @app.cli.command("demo-data")
    def demo_data_command():
        """Load the demo organisations and accounts (safe to run twice)."""
        sync_roles()
        for line in demo.load():
            click.echo(line)


def sync_roles():
    current_app.appbuilder.sm.sync_roles()
