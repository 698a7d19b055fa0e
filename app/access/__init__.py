"""Who may see and do what, per desk: row scopes (SQL criteria), role grants and the
Python predicates derived from the same criteria. Each module registers with
`app.security` when imported (`create_app()` imports them all)."""
