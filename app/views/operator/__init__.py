"""Desk E, operator e-services — the screens: the desk's home (`common`), the
accounts and their e-services (`accounts`), "Mes certificats numériques"
(`certificates`), the eligibility search, building sheet and TMF645 API
(`eligibility`)."""
from flask_babel import lazy_gettext as _l

from . import accounts, aftersales, appointments, certificates, eligibility, orders
from .common import DESK, OperatorView


def register(appbuilder):
    appbuilder.add_view_no_menu(OperatorView)
    appbuilder.add_link("OperatorHome", href="/operator/", icon="fa-th-large", label=_l("My e-services"),
                        category=DESK.category)
    accounts.register(appbuilder)
    certificates.register(appbuilder)
    eligibility.register(appbuilder)
    appointments.register(appbuilder)
    aftersales.register(appbuilder)
    orders.register(appbuilder)
