"""The registry: all SQL of the opleidingsdatabank, one module per concern."""
