"""Every table, one module each for the platform and each desk; `app.models` is their face."""
