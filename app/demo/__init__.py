"""Demo data for `flask demo-data`: the platform's (organisations, the platform's
accounts), then each desk's (`app/demo/<desk>.py`, in the order of app/desks.py).

Safe to run twice: every record is looked up by its natural key first. Each
`load()` yields lines worth printing.
"""
from ..desks import modules
from . import platform


def load():
    yield from platform.load()
    for module in modules("demo"):
        yield from module.load()
