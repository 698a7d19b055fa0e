"""Views: the scoped grid/API base, one module per desk, accounts and platform views."""
