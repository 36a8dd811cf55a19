"""The HTTP API for the portal (WSE-loket): the app, its routes, and what every request
goes through (tokens, problems, the access log)."""
