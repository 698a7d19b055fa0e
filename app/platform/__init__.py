"""Shared services, one small module each."""
