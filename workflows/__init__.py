"""Workflow definitions. Deterministic: no I/O, clocks or randomness outside temporalio."""
