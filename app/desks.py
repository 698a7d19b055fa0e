"""The desks of Guichet: the one list that `create_app()`, the menus, the home page
and the demo data read.

A desk is one module name in every layer (DESIGN §8): `app/tables/<name>.py`,
`app/access/<name>.py`, `app/rules/<name>.py`, `app/views/<name>.py`,
`app/demo/<name>.py`, `app/templates/<name>/`, `app/templates/mail/<name>/`,
`tests/test_<name>*.py` and `bench/<name>.py`. Adding a desk is adding those files
and one line below.
"""
from dataclasses import dataclass
from importlib import import_module

from flask_babel import lazy_gettext as _l

LAYERS = ("tables", "access", "rules", "views", "demo")


@dataclass(frozen=True)
class Desk:
    name: str  # the module name in every layer
    category: str  # the FAB menu category its entries go in
    label: object  # the menu's title, as people read it
    icon: str
    home: str  # the endpoint its tile opens and its single-desk people land on
    modules: tuple = LAYERS  # the layers it has a module in

    def module(self, layer):
        """The desk's module of a layer (`app.<layer>.<name>`), imported."""
        return import_module(f"app.{layer}.{self.name}")


DESKS = (
    Desk("booking", "Visio", _l("Visio"), "fa-video-camera", "BookingView.home"),
    Desk("tickets", "Ticketing", _l("Tickets"), "fa-ticket", "ExtranetView.home"),
    Desk("ent", "HelpDesk", _l("Help and support"), "fa-life-ring", "HelpRequestView.home"),
    Desk("events", "Events", _l("Events"), "fa-calendar", "EventView.home"),
    Desk("operator", "Operator", _l("Operator e-services"), "fa-signal", "OperatorView.home"),
)


def desk_of(module_name: str) -> Desk:
    """The desk a module belongs to, from its name (`app.views.booking` → booking)."""
    name = module_name.rsplit(".", 1)[-1]
    return next(desk for desk in DESKS if desk.name == name)


def modules(layer):
    """Every desk's module of a layer, in the order of DESKS."""
    return [desk.module(layer) for desk in DESKS if layer in desk.modules]
