"""The face of every table: `from app.models import Booking` works for any table.

The tables live in `app/tables/`: `base.py` (what they share), `platform.py`, and one
module per desk of `app/desks.py`, each listing its public names in `__all__`. All
derive from FAB's `Model`, so Alembic sees them with FAB's own security tables in one
`Model.metadata`.
"""
from importlib import import_module

from .desks import DESKS

__all__ = []


def _expose(module_name):
    module = import_module(f"app.tables.{module_name}")
    globals().update({name: getattr(module, name) for name in module.__all__})
    __all__.extend(module.__all__)


for _name in ("base", "platform", *(desk.name for desk in DESKS if "tables" in desk.modules)):
    _expose(_name)
