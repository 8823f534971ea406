"""Configuration an attacker or a typo could get wrong: tokens and IPv6 binds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from collector.server import start_collector
from collector.settings import MIN_TOKEN_CHARS, Settings, SettingsError
from instrumentation.security import host_port, url_host
from tests.collector.ingest.otlp import record_spans, to_request

GOOD_TOKEN = "x" * MIN_TOKEN_CHARS


@pytest.mark.parametrize("token", ["", " ", "\t\n", "   \u00a0  "])
def test_a_blank_token_is_refused_at_start(token: str) -> None:
    with pytest.raises(SettingsError, match="blank"):
        Settings.from_env({"AGENT_AUDIT_TOKEN": token})


@pytest.mark.parametrize("token", ["t", "t0ken", "s3cret-token", "x" * (MIN_TOKEN_CHARS - 1)])
def test_a_short_token_is_refused_at_start(token: str) -> None:
    with pytest.raises(SettingsError, match="characters long"):
        Settings.from_env({"AGENT_AUDIT_TOKEN": token})
    with pytest.raises(SettingsError):
        Settings(token=token, grpc_port=0, http_port=0).validate()


@pytest.mark.parametrize("token", [f" {GOOD_TOKEN}", f"{GOOD_TOKEN}\n"])
def test_a_token_with_surrounding_whitespace_is_refused(token: str) -> None:
    with pytest.raises(SettingsError, match="whitespace"):
        Settings.from_env({"AGENT_AUDIT_TOKEN": token})


def test_a_long_enough_token_is_accepted() -> None:
    assert Settings.from_env({"AGENT_AUDIT_TOKEN": GOOD_TOKEN}).token == GOOD_TOKEN


def test_the_cli_names_the_variable_and_exits_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "collector.cli", "collector", "--db", str(tmp_path / "x.duckdb")],
        env={"AGENT_AUDIT_TOKEN": "short", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path.cwd())},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "AGENT_AUDIT_TOKEN" in done.stderr and "characters" in done.stderr
    assert not (tmp_path / "x.duckdb").exists()


@pytest.mark.parametrize(
    ("host", "expected"),
    [("::1", "[::1]"), ("fe80::1", "[fe80::1]"), ("[::1]", "[::1]"), ("127.0.0.1", "127.0.0.1")],
)
def test_ipv6_hosts_are_bracketed(host: str, expected: str) -> None:
    assert url_host(host) == expected
    assert host_port(host, 4317) == f"{expected}:4317"


@pytest.mark.parametrize("host", ["::1", "0:0:0:0:0:0:0:1"])
def test_the_collector_serves_on_ipv6_loopback(tmp_path: Path, host: str) -> None:
    settings = Settings.from_env({"AGENT_AUDIT_HOST": host}).with_overrides(
        db_path=tmp_path / "v6.duckdb", grpc_port=0, http_port=0
    )
    running = start_collector(settings)
    try:
        base = f"http://{url_host(host)}:{running.http_port}"
        assert httpx.get(base + "/healthz", timeout=10).status_code == 200
        request = to_request(record_spans(lambda tracer: tracer.start_span("over v6").end()))
        with grpc.insecure_channel(host_port(host, running.grpc_port)) as channel:
            TraceServiceStub(channel).Export(request, timeout=10)
        response = httpx.post(
            base + "/v1/traces",
            content=request.SerializeToString(),
            headers={"content-type": "application/x-protobuf"},
            timeout=10,
        )
        assert response.status_code == 200
        names = running.store.read(lambda cur: cur.execute("SELECT name FROM spans").fetchall())
        assert names == [("over v6",)]
    finally:
        running.stop()
