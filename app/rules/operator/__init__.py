"""Desk E, operator e-services — the decisions: accounts and entitlements
(`accounts`), certificates and their alerts (`certificates`), buildings and
eligibility (`eligibility`)."""
from . import certificates, diagnostics

#: The desk's periodic jobs (app/platform/schedule.py registers them).
PERIODIC_JOBS = [*certificates.PERIODIC_JOBS, *diagnostics.PERIODIC_JOBS]
