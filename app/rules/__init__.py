"""Desk rules: plain functions over models, tested without HTTP."""
