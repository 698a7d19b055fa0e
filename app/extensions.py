"""The Flask extensions, created once and bound to each app by create_app()."""
from flask_appbuilder.models.sqla.base import SQLA
from flask_migrate import Migrate

db = SQLA()
migrate = Migrate(compare_type=True, render_as_batch=True)
