"""Session fixtures live in tests/fixtures/ (one module per real server)."""

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.temporal",
    "tests.fixtures.api",
    "tests.fixtures.web",
]
