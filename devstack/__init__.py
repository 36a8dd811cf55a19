"""The dev stack: starts and stops the Temporal dev server, PostgreSQL, the SMTP sink, the
worker and the HTTP API from `temporal-dev.yaml`. Run `python -m devstack up|stop|status`."""
