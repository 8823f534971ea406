"""``agent-audit rederive`` rebuilds runs and steps from the stored spans."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.conftest import start_test_collector
from tests.support import run_cli, wait_until


def _send_one_run(endpoint: str) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    tracer = provider.get_tracer("framework-under-test")
    with tracer.start_as_current_span(
        "invoke_agent weather_agent",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather_agent"},
    ):
        with tracer.start_as_current_span(
            "execute_tool get_weather",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "get_weather",
                "gen_ai.tool.call.arguments": json.dumps({"city": "Paris"}),
            },
        ):
            pass
    provider.shutdown()


def test_rederive_brings_back_what_the_spans_say(tmp_path: Path) -> None:
    db = tmp_path / "audit.duckdb"
    handle = start_test_collector(db)
    try:
        _send_one_run(handle.grpc_endpoint)
        wait_until(
            lambda: handle.query("SELECT count(*) FROM agent_steps")[0][0] == 1,
            timeout_s=15,
            what="the step",
        )
    finally:
        handle.stop()

    # What an older mapping might have left: a step without its arguments, a run lost.
    con = duckdb.connect(str(db))
    con.execute("UPDATE agent_steps SET tool_args = NULL")
    con.execute("DELETE FROM agent_runs")
    con.close()

    done = run_cli("rederive", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert "replayed 2/2 spans" in done.stderr
    assert "runs 0 -> 1, steps 1 -> 1" in done.stdout

    con = duckdb.connect(str(db), read_only=True)
    run = con.execute("SELECT agent_name, total_steps FROM agent_runs").fetchall()
    args = con.execute("SELECT tool_args FROM agent_steps").fetchall()
    con.close()
    assert run == [("weather_agent", 1)]
    assert json.loads(args[0][0]) == {"city": "Paris"}
    verified = run_cli("verify", "--db", str(db))
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_rederive_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    done = run_cli("rederive", "--db", str(tmp_path / "nope.duckdb"))
    assert done.returncode == 2 and "does not exist" in done.stderr
