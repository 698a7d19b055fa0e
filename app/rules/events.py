"""Desk D."""
