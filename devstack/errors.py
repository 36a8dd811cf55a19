"""The one error the dev stack reports to a person: what failed and what to do about it."""

from __future__ import annotations


class StackError(Exception):
    """Start-up or control failed; the message names the key, port or binary involved."""
