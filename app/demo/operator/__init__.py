"""Desk E's demo data: the two operators' subscriptions, accounts and entitlements
(`accounts`), their certificates, about 2,000 buildings with offers."""
from . import accounts, aftersales, appointments, buildings, certificates, orders


def load():
    yield from accounts.load()
    yield from certificates.load()
    yield from buildings.load()
    yield from appointments.load()
    yield from aftersales.load()
    yield from orders.load()
