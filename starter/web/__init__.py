"""The web application for staff and providers: server-rendered Dutch pages over the same
service functions as the API (docs/web.md). `python -m starter.web` serves it."""
