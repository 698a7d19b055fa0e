"""What the app at rest imports: the libraries only a command, a job or a rare screen
needs are imported where they are used (issue 16: every web and export process
carried ~25 MB of them). Checked in a fresh interpreter, since this one has them all."""
import json
import os
import subprocess
import sys

from config import BASE_DIR

#: Imported on first use only: migrations, Redis/RQ without REDIS_URL, calendars,
#: public holidays, PDF passes and lists, QR codes, spreadsheets, geodesy.
ON_FIRST_USE = ("alembic", "flask_migrate", "mako", "pygments", "redis", "rq", "croniter", "icalendar",
                "holidays", "reportlab", "segno", "xlsxwriter", "openpyxl", "pyproj")

AT_REST = f"""
import json, sys
from app import create_app
app = create_app({{"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "{'ab' * 32}",
                  "PUBLIC_URL": "http://localhost", "REDIS_URL": None}})
assert app.test_client().get("/healthz").status_code == 200
print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}})))
"""


def test_the_app_at_rest_leaves_heavy_libraries_unimported():
    env = {name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run([sys.executable, "-c", AT_REST], cwd=BASE_DIR, env=env, capture_output=True,
                            text=True, check=True)
    imported = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert imported.isdisjoint(ON_FIRST_USE), sorted(imported & set(ON_FIRST_USE))


def test_flask_db_binds_flask_migrate_when_run(app):
    result = app.test_cli_runner().invoke(args=["db", "--help"])
    assert result.exit_code == 0 and "upgrade" in result.output
    assert app.extensions["migrate"].directory == os.path.join(BASE_DIR, "migrations")
