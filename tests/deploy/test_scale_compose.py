"""The scale-out deployment files, parsed and checked (no docker engine here):
otel-config.scale.yaml routes by trace id to exactly the collectors of the
compose profile ``scale``, which share one lake and keep their own files."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from tests.deploy.test_compose import interpolate

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SCALE = yaml.safe_load((REPO_ROOT / "otel-config.scale.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
COLLECTORS = [name for name in SERVICES if name.startswith("collector-")]


def _volumes(name: str) -> dict[str, str]:
    """Container path -> source."""
    out = {}
    for entry in SERVICES[name].get("volumes") or []:
        source, target, *_ = entry.split(":")
        out[target] = source
    return out


def test_pipeline_routes_by_trace_id_and_never_gives_up() -> None:
    pipeline = SCALE["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    assert pipeline["processors"] == ["memory_limiter", "batch"]
    assert pipeline["exporters"] == ["loadbalancing/agent-audit"]
    exporter = SCALE["exporters"]["loadbalancing/agent-audit"]
    assert exporter["routing_key"] == "traceID"
    otlp = exporter["protocol"]["otlp"]
    assert otlp["retry_on_failure"]["enabled"] is True
    assert otlp["retry_on_failure"]["max_elapsed_time"] == 0
    assert otlp["headers"]["authorization"] == "Bearer ${env:AGENT_AUDIT_TOKEN}"
    queue = otlp["sending_queue"]
    assert queue["enabled"] is True
    assert queue["storage"] in SCALE["extensions"]
    assert queue["storage"] in SCALE["service"]["extensions"]


def test_the_resolver_finds_exactly_the_scale_collectors() -> None:
    assert len(COLLECTORS) >= 3
    dns = SCALE["exporters"]["loadbalancing/agent-audit"]["resolver"]["dns"]
    for name in COLLECTORS:
        service = SERVICES[name]
        assert service["profiles"] == ["scale"]
        assert dns["hostname"] in service["networks"]["default"]["aliases"]
        assert "--host" in service["command"]  # listens beyond loopback, with the token
    others = [n for n in SERVICES if n not in COLLECTORS]
    for name in others:
        aliases = (SERVICES[name].get("networks") or {}).get("default", {}).get("aliases", [])
        assert dns["hostname"] not in aliases
    assert dns["port"] == 4317  # the collector's gRPC port


def test_collectors_share_the_lake_and_keep_their_own_files() -> None:
    ids, local_volumes = set(), set()
    for name in COLLECTORS:
        env = SERVICES[name]["environment"]
        store = interpolate(env["AGENT_AUDIT_STORE"], {"AGENT_AUDIT_LAKE_PASSWORD": "pw"})
        assert store.startswith("ducklake:postgres://")
        assert urlparse(store.removeprefix("ducklake:")).hostname == "lake-catalog"
        assert "lake-catalog" in SERVICES[name]["depends_on"]
        volumes = _volumes(name)
        assert volumes[env["AGENT_AUDIT_LAKE_DATA_PATH"].rstrip("/")] == "lake-data"
        command = SERVICES[name]["command"]
        local = Path(command[command.index("--db") + 1]).parent
        local_volumes.add(volumes[str(local)])
        ids.add(env["AGENT_AUDIT_COLLECTOR_ID"])
    assert len(ids) == len(COLLECTORS)  # one lake schema each
    assert len(local_volumes) == len(COLLECTORS)  # one DuckDB file each
    assert set(_volumes("lake-data-init").values()) == {"lake-data"}


def test_otelcol_scale_uses_the_scale_config_and_dashboard_reads_a_collector() -> None:
    service = SERVICES["otelcol-scale"]
    (flag,) = [c for c in service["command"] if c.startswith("--config=")]
    source = _volumes("otelcol-scale")[flag.split("=", 1)[1]]
    assert (REPO_ROOT / source).resolve() == REPO_ROOT / "otel-config.scale.yaml"
    queue_dir = SCALE["extensions"]["file_storage/queue"]["directory"]
    assert _volumes("otelcol-scale")[queue_dir] in COMPOSE["volumes"]
    command = SERVICES["dashboard-scale"]["command"]
    api = urlparse(command[command.index("--api") + 1])
    assert api.hostname in COLLECTORS
