"""AGENT_AUDIT_STORE picks the store; bad values stop start-up with the variable named."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.settings import Settings, SettingsError


def test_default_is_one_duckdb_file() -> None:
    settings = Settings.from_env({})
    assert settings.lake_catalog is None
    assert settings.db_path == Path("agent_audit.duckdb")
    assert Settings.from_env({"AGENT_AUDIT_STORE": "duckdb:/srv/a.duckdb"}).db_path == Path(
        "/srv/a.duckdb"
    )
    assert Settings.from_env({"AGENT_AUDIT_DB": "/srv/b.duckdb"}).db_path == Path("/srv/b.duckdb")


def test_lake_mode_keeps_the_local_file_and_names_the_catalog() -> None:
    settings = Settings.from_env(
        {
            "AGENT_AUDIT_STORE": "ducklake:postgres://u:p@db:5432/lake",
            "AGENT_AUDIT_LAKE_DATA_PATH": "/srv/lake",
            "AGENT_AUDIT_DB": "/srv/c1.duckdb",
            "AGENT_AUDIT_COLLECTOR_ID": "c1",
        }
    )
    assert settings.lake_catalog == "postgres://u:p@db:5432/lake"
    assert settings.db_path == Path("/srv/c1.duckdb")
    assert (settings.lake_data_path, settings.collector_id) == ("/srv/lake", "c1")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AGENT_AUDIT_STORE": "ducklake:postgres://db/lake"}, "AGENT_AUDIT_LAKE_DATA_PATH"),
        ({"AGENT_AUDIT_STORE": "ducklake:mysql://db/lake"}, "AGENT_AUDIT_STORE"),
        ({"AGENT_AUDIT_STORE": "sqlite:/tmp/x"}, "AGENT_AUDIT_STORE"),
        (
            {"AGENT_AUDIT_STORE": "duckdb:/a.duckdb", "AGENT_AUDIT_DB": "/b.duckdb"},
            "AGENT_AUDIT_DB",
        ),
        ({"AGENT_AUDIT_COLLECTOR_ID": "Not-Valid"}, "AGENT_AUDIT_COLLECTOR_ID"),
        ({"AGENT_AUDIT_LAKE_SHIP_INTERVAL_S": "0"}, "AGENT_AUDIT_LAKE_SHIP_INTERVAL_S"),
    ],
)
def test_bad_values_are_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)
