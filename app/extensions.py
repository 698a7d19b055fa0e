"""The Flask extensions, created once and bound to each app by create_app()."""
from flask_appbuilder.models.sqla.base import SQLA
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

db = SQLA()
migrate = Migrate(compare_type=True, render_as_batch=True)
# Every form post carries a token; FAB exempts its REST APIs (they use JWT or the session).
csrf = CSRFProtect()
