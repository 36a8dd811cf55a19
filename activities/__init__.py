"""Activities: every step that touches the outside world (registry, e-mail). Idempotent."""
