"""configure(): settings, exporting over real OTLP/HTTP and gRPC, collector down, app providers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import instrumentation
from instrumentation import agent_run
from instrumentation.settings import resolve_export_settings
from tests.instrumentation.recording import RecordingGrpcServer, RecordingHttpServer
from tests.support import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


# --- settings ------------------------------------------------------------------


def test_defaults_are_grpc_to_the_local_collector() -> None:
    settings = resolve_export_settings(env={})
    assert settings.protocol == "grpc"
    assert settings.endpoint == "http://127.0.0.1:4317"
    assert settings.api_url == "http://127.0.0.1:4318"
    assert settings.token is None
    assert settings.headers == {}
    assert settings.spool_dir is None


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("http://box:4318", "http://box:4318/v1/traces"),
        ("http://box:4318/", "http://box:4318/v1/traces"),
        ("http://box:4318/v1/traces", "http://box:4318/v1/traces"),
        ("box:9000", "http://box:9000/v1/traces"),
    ],
)
def test_http_appends_the_traces_path_to_a_base_endpoint(endpoint: str, expected: str) -> None:
    settings = resolve_export_settings(endpoint=endpoint, protocol="http", env={})
    assert settings.protocol == "http/protobuf"
    assert settings.endpoint == expected
    # the API lives on the HTTP port
    assert settings.api_url == expected.removesuffix("/v1/traces")


def test_environment_is_honoured_and_arguments_win() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.lan:4318",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=home",
        "AGENT_AUDIT_TOKEN": "t0k",
        "AGENT_AUDIT_SPOOL_DIR": "/var/spool/agent",
        "AGENT_AUDIT_SPOOL_MAX_BYTES": "1000",
    }
    settings = resolve_export_settings(env=env)
    assert settings.endpoint == "http://collector.lan:4318/v1/traces"
    assert settings.headers == {"x-tenant": "home", "authorization": "Bearer t0k"}
    assert settings.api_url == "http://collector.lan:4318"
    assert settings.spool_dir == Path("/var/spool/agent")
    assert settings.spool_max_bytes == 1000
    # the signal-specific endpoint is used as it is
    traces = resolve_export_settings(
        env={**env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://other:1234/custom"}
    )
    assert traces.endpoint == "http://other:1234/custom"
    # arguments win
    explicit = resolve_export_settings(
        endpoint="http://10.0.0.2:4317",
        protocol="grpc",
        api_url="http://10.0.0.2:9999/",
        env={**env, "AGENT_AUDIT_API": "http://ignored:1"},
    )
    assert (explicit.protocol, explicit.endpoint) == ("grpc", "http://10.0.0.2:4317")
    assert explicit.api_url == "http://10.0.0.2:9999"
    assert resolve_export_settings(env={"AGENT_AUDIT_API": "http://api:80"}).api_url == (
        "http://api:80"
    )
    # gRPC: the API is on the same host, the port after the gRPC port (the collector's pair)
    assert resolve_export_settings(endpoint="https://h.example:14317", env={}).api_url == (
        "https://h.example:14318"
    )


def test_one_address_gives_the_other_for_a_moved_collector() -> None:
    # `agent-audit up --port-offset 1000`: gRPC on 5317, API and OTLP/HTTP on 5318.
    from_api = resolve_export_settings(env={"AGENT_AUDIT_API": "http://box:5318"})
    assert (from_api.endpoint, from_api.api_url) == ("http://box:5317", "http://box:5318")
    over_http = resolve_export_settings(protocol="http", env={"AGENT_AUDIT_API": "http://box:5318"})
    assert over_http.endpoint == "http://box:5318/v1/traces"
    from_endpoint = resolve_export_settings(endpoint="http://box:5317", env={})
    assert from_endpoint.api_url == "http://box:5318"
    from_env = resolve_export_settings(env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://[::1]:5317"})
    assert from_env.api_url == "http://[::1]:5318"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
        ({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "zmq"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
        ({"AGENT_AUDIT_SPOOL_MAX_BYTES": "lots"}, "AGENT_AUDIT_SPOOL_MAX_BYTES"),
        ({"AGENT_AUDIT_API": "ftp://x"}, "AGENT_AUDIT_API"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "unix:///tmp/sock"}, "endpoint"),
        ({"OTEL_BSP_MAX_QUEUE_SIZE": "many"}, "OTEL_BSP_MAX_QUEUE_SIZE"),
        ({"OTEL_BSP_SCHEDULE_DELAY": "0"}, "OTEL_BSP_SCHEDULE_DELAY"),
    ],
)
def test_bad_values_stop_configuration_naming_the_variable(
    env: dict[str, str], needle: str
) -> None:
    with pytest.raises(ValueError, match=needle):
        resolve_export_settings(env=env)


def test_configure_twice_is_safe_and_configure_after_shutdown_starts_afresh(
    http_server: RecordingHttpServer,
) -> None:
    first = instrumentation.configure(endpoint=http_server.url, protocol="http", cancel_poll_s=None)
    second = instrumentation.configure(endpoint="http://127.0.0.1:1", protocol="grpc")
    assert second is first
    assert first.installed_provider
    assert first.export is not None and first.export.protocol == "http/protobuf"
    assert instrumentation.shutdown(timeout_s=5)
    third = instrumentation.configure(endpoint=http_server.url, protocol="http", cancel_poll_s=None)
    assert third is not first
    with agent_run("after reconfigure"):
        pass
    assert instrumentation.shutdown(timeout_s=5)
    assert any(s.name == "invoke_agent" and not s.pending for s in http_server.spans())


# --- real exporters --------------------------------------------------------------


def test_http_export_is_live_carries_the_token_and_flushes_at_shutdown(
    http_server: RecordingHttpServer,
) -> None:
    configuration = instrumentation.configure(
        endpoint=http_server.url,
        protocol="http",
        service_name="ops-agent",
        token="s3cret",
        cancel_poll_s=None,
    )
    assert configuration.service_name == "ops-agent"
    with agent_run("live?", agent_name="ops") as run:
        started = time.monotonic()
        # the run is visible well before it ends (design target: within 2 s)
        wait_until(
            lambda: any(
                s.pending and s.attributes["agent_run.id"] == run.id for s in http_server.spans()
            ),
            timeout_s=10,
        )
        visible_after_s = time.monotonic() - started
        with run.step("tool_call", tool_name="docker_ps") as step:
            step.set_result("web-1 Up")
    assert visible_after_s < 2.0
    assert instrumentation.shutdown(timeout_s=10)
    received = http_server.spans()
    real = {s.name: s for s in received if not s.pending}
    assert set(real) == {"invoke_agent ops", "execute_tool docker_ps"}
    assert real["execute_tool docker_ps"].parent_span_id == real["invoke_agent ops"].span_id
    assert real["invoke_agent ops"].attributes["agent_run.status"] == "completed"
    assert {s.service_name for s in received} == {"ops-agent"}
    # the run was open long enough for its pending copy; the short step was not
    assert [s.name for s in received if s.pending] == ["invoke_agent ops"]
    assert all(h.get("authorization") == "Bearer s3cret" for h in http_server.headers)


def test_otel_service_name_names_the_service_unless_given(
    http_server: RecordingHttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", http_server.url)
    configuration = instrumentation.configure(cancel_poll_s=None)
    assert configuration.service_name == "from-env"
    assert configuration.export is not None
    assert configuration.export.endpoint == f"{http_server.url}/v1/traces"
    with agent_run("t"):
        pass
    assert instrumentation.shutdown(timeout_s=10)
    assert {s.service_name for s in http_server.spans()} == {"from-env"}
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    assert instrumentation.configure(cancel_poll_s=None).service_name == "agent"


def test_grpc_export_carries_the_token_and_the_otel_headers(
    grpc_server: RecordingGrpcServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=home")
    monkeypatch.setenv("AGENT_AUDIT_TOKEN", "g-token")
    instrumentation.configure(endpoint=grpc_server.url, cancel_poll_s=None)
    with agent_run("over grpc") as run, run.step("response"):
        pass
    assert instrumentation.shutdown(timeout_s=10)
    received = grpc_server.spans()
    assert {s.name for s in received if not s.pending} == {"invoke_agent", "response"}
    assert all(h.get("authorization") == "Bearer g-token" for h in grpc_server.headers)
    assert all(h.get("x-tenant") == "home" for h in grpc_server.headers)


# --- separate processes: exit behaviour and the app's own provider ----------------------

AGENT_SCRIPT = textwrap.dedent(
    """
    import json, logging, sys, time
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    from instrumentation import agent_run, configure
    protocol, port = sys.argv[1], sys.argv[2]
    configure(endpoint=f"http://127.0.0.1:{port}", protocol=protocol,
              api_url=f"http://127.0.0.1:{port}", cancel_poll_s=None)
    started = time.monotonic()
    for index in range(300):
        with agent_run(f"run {index}") as run:
            for step in range(10):
                with run.step("tool_call", tool_name="docker_ps") as s:
                    s.set_result("x" * 1000)
    print(json.dumps({"agent_s": time.monotonic() - started}))
    """
)


def _run_python(script: str, *args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_collector_down_the_agent_neither_blocks_nor_hangs_at_exit(protocol: str) -> None:
    started = time.monotonic()
    done = _run_python(AGENT_SCRIPT, protocol, str(free_port()), timeout_s=60)
    wall_s = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    agent_s = json.loads(done.stdout)["agent_s"]
    # hang checks, not speed checks: the SDK alone would block exit for 30 s
    assert agent_s < 10, agent_s
    assert wall_s < 20, wall_s
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, done.stderr
    assert "dropping spans" in warnings[0] or "could not be exported" in warnings[0]


def test_an_application_tracer_provider_is_used_as_it_is() -> None:
    script = textwrap.dedent(
        """
        import json
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from instrumentation import agent_run, configure, shutdown
        memory = InMemorySpanExporter()
        app_provider = TracerProvider()
        app_provider.add_span_processor(SimpleSpanProcessor(memory))
        trace.set_tracer_provider(app_provider)
        configuration = configure(endpoint="http://127.0.0.1:1", cancel_poll_s=None)
        with agent_run("t") as run:
            pass
        shutdown()
        print(json.dumps({
            "installed": configuration.installed_provider,
            "same_provider": trace.get_tracer_provider() is app_provider,
            "spans": [s.name for s in memory.get_finished_spans()],
        }))
        """
    )
    done = _run_python(script, timeout_s=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {"installed": False, "same_provider": True, "spans": ["invoke_agent"]}


@pytest.mark.parametrize("limit", [None, "50"])
def test_the_installed_provider_keeps_a_long_conversation_s_attributes(
    http_server: RecordingHttpServer, monkeypatch: pytest.MonkeyPatch, limit: str | None
) -> None:
    """OpenInference writes each message of a model call as attributes of its own: past the
    SDK's 128 the oldest (the model's name, the request) would be dropped. The provider
    configure() installs keeps them, unless OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT says otherwise."""
    from opentelemetry import trace

    if limit is not None:
        monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", limit)
    instrumentation.configure(endpoint=http_server.url, protocol="http", cancel_poll_s=None)
    messages = 300
    with agent_run("a long conversation", agent_name="talker"):
        span = trace.get_current_span()
        span.set_attribute("llm.model_name", "qwen")
        for n in range(messages):
            span.set_attribute(f"llm.input_messages.{n}.message.content", f"message {n}")
    assert instrumentation.shutdown(timeout_s=10)
    (run,) = [s for s in http_server.spans() if not s.pending]
    kept = [k for k in run.attributes if k.startswith("llm.input_messages.")]
    if limit is None:
        assert len(kept) == messages and run.attributes["llm.model_name"] == "qwen"
        assert run.attributes["agent_run.task"] == "a long conversation"
    else:
        assert len(run.attributes) == int(limit) and "llm.model_name" not in run.attributes
