"""Deployment: `python -m starter setup` (migrations, namespace, search attributes, schedule)."""
