"""Settings: overrides > environment > the YAML file > defaults, merged key by key; a bad
value is refused with its key, its origin and the rule."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runtime.settings import ConfigError, load_settings

OUTSIDE = ("DATABASE_URL", "SMTP_", "TEMPORAL_", "ODB_")


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty config file named by ODB_CONFIG, and no other setting from the environment."""
    for name in list(os.environ):
        if name.startswith(OUTSIDE):
            monkeypatch.delenv(name)
    path = tmp_path / "config.yaml"
    path.write_text("")
    monkeypatch.setenv("ODB_CONFIG", str(path))
    return path


def test_sources_are_layered_and_merged_key_by_key(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.write_text(
        "postgres:\n  url: postgresql://file/odb\n  pool_max: 7\n  pool_min: 2\n"
        "smtp:\n  host: file.example\n  port: 2525\n"
        "temporal:\n  sqlite_pragmas:\n    journal_mode: wal\n"
    )
    monkeypatch.setenv("ODB_POSTGRES__POOL_MIN", "3")
    monkeypatch.setenv("SMTP_HOST", "alias.example")
    monkeypatch.setenv("ODB_TEMPORAL__SQLITE_PRAGMAS", '{"synchronous": "normal"}')
    settings = load_settings(postgres={"url": "postgresql://test/odb"}, state_dir="/tmp/state")
    # overrides beat everything, and keep the other keys of their section
    assert settings.postgres.url == "postgresql://test/odb"
    assert settings.state_dir == Path("/tmp/state")
    # the environment beats the file; what neither sets keeps its default
    assert (settings.postgres.pool_min, settings.postgres.pool_max) == (3, 7)
    assert settings.postgres.database == "odb"
    assert (settings.smtp.host, settings.smtp.port) == ("alias.example", 2525)
    # mappings merge too
    assert settings.temporal.sqlite_pragmas == {"journal_mode": "wal", "synchronous": "normal"}


def test_prefixed_names_beat_the_conventional_ones(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://alias/odb")
    assert load_settings().postgres.url == "postgresql://alias/odb"
    monkeypatch.setenv("ODB_POSTGRES__URL", "postgresql://prefixed/odb")
    assert load_settings().postgres.url == "postgresql://prefixed/odb"


def test_a_missing_file_leaves_the_defaults(config: Path) -> None:
    config.unlink()
    assert load_settings().temporal.address == "127.0.0.1:7233"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("temporal:\n  adress: x\n", "temporal.adress: unknown key; remove it or check"),
        ("tempral:\n  address: x\n", "tempral: unknown key"),
        ("smtp:\n  port: 70000\n", "smtp.port: Input should be less than or equal to 65535"),
        ("temporal: [not, a, mapping]\n", "temporal: Input should be a valid dictionary"),
    ],
)
def test_a_bad_file_value_names_the_file_and_the_key(
    config: Path, text: str, expected: str
) -> None:
    config.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).startswith(f"invalid configuration in {config}:\n")
    assert expected in str(err.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("temporal:\n  address: x\n   namespace: odb\n", "not valid YAML"),
        ("- a\n- b\n", "the top level must be a mapping of sections"),
    ],
)
def test_a_file_that_is_not_a_mapping_is_named(config: Path, text: str, expected: str) -> None:
    config.write_text(text)
    with pytest.raises(ConfigError, match=expected) as err:
        load_settings()
    assert str(config) in str(err.value)


def test_each_bad_value_is_named_with_where_it_came_from(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.write_text("smtp:\n  port: 70000\n")
    monkeypatch.setenv("ODB_TEMPORAL__UI_PORT", "eighty")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "")  # empty: ignored, as before
    with pytest.raises(ConfigError) as err:
        load_settings(postgres={"pool_max": 0})
    message = str(err.value)
    assert "invalid configuration in environment:\n  temporal.ui_port: Input should be" in message
    assert f"invalid configuration in {config}:\n  smtp.port: " in message
    assert "invalid configuration in load_settings arguments:\n  postgres.pool_max: " in message


def test_an_environment_value_that_is_not_json_is_a_config_error(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ODB_TEMPORAL", "not json")
    with pytest.raises(ConfigError, match=r'invalid configuration in environment:\n.*"temporal"'):
        load_settings()
