"""Desk E, operator e-services — the decisions: accounts and entitlements
(`accounts`), certificates and their alerts (`certificates`), buildings and
eligibility (`eligibility`)."""
