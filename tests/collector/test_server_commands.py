"""The command a tool step ran on a server: read from ``ssh.*`` attributes at ingest,
and filled in for steps stored before the columns existed."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from collector.mapping import SpanClass, build_step
from collector.server_commands import COMMAND_FIELDS, command_fields
from collector.store import RunStore
from collector.verify import verify_file
from instrumentation import attributes as A
from tests.records import span_record

_SSH = {
    A.SSH_HOST: "nas.lan",
    A.SSH_PORT: 2222,
    A.SSH_USER: "agent",
    A.SSH_ARGV: json.dumps(["docker", "logs", "--since", "10 min ago", "web"]),
    A.SSH_DECISION: "allowed",
    A.SSH_REASON: "allowed by policy",
    A.SSH_EXIT_CODE: 0,
}


def test_argv_is_shell_quoted_so_the_shown_text_is_what_ran() -> None:
    fields = command_fields(_SSH)
    assert fields == {
        "command": "docker logs --since '10 min ago' web",
        "command_host": "agent@nas.lan:2222",
        "command_decision": "allowed",
        "command_reason": "allowed by policy",
        "command_exit_code": 0,
    }


def test_a_refused_line_that_never_parsed_shows_as_given_without_exit_code() -> None:
    attrs = {
        A.SSH_HOST: "nas.lan",
        A.SSH_ARGV: "null",
        A.SSH_COMMAND: "docker ps; rm -rf /",
        A.SSH_DECISION: "refused",
        A.SSH_REASON: "character ';' is not allowed",
    }
    fields = command_fields(attrs)
    assert fields["command"] == "docker ps; rm -rf /"
    assert (fields["command_host"], fields["command_decision"]) == ("nas.lan", "refused")
    assert fields["command_exit_code"] is None


def test_an_argv_given_as_a_string_array_attribute_is_read_too() -> None:
    # Another emitter may set the argv as an OTLP array rather than JSON text.
    fields = command_fields({A.SSH_ARGV: ["docker", "ps", "--format", "{{.Names}} x"]})
    assert fields["command"] == "docker ps --format '{{.Names}} x'"


def test_an_exit_code_the_column_cannot_hold_is_left_out_not_an_ingest_failure() -> None:
    for value in (2**40, -(2**40), True, "9" * 30, "137x"):
        assert (
            command_fields({A.SSH_HOST: "h", A.SSH_EXIT_CODE: value})["command_exit_code"] is None
        )
    assert command_fields({A.SSH_HOST: "h", A.SSH_EXIT_CODE: "137"})["command_exit_code"] == 137


def test_spans_without_ssh_keys_get_no_command() -> None:
    attrs = {A.GEN_AI_TOOL_NAME: "search", A.SSH_EXIT_CODE + "_not": 1}
    assert command_fields(attrs) == dict.fromkeys(COMMAND_FIELDS)
    step = build_step(span_record(attributes=attrs), SpanClass.TOOL, None)
    assert step.command is None and step.command_exit_code is None


def test_any_tool_span_carrying_the_keys_fills_the_step_row() -> None:
    attrs = {A.GEN_AI_OPERATION_NAME: "execute_tool", A.GEN_AI_TOOL_NAME: "shell", **_SSH}
    step = build_step(span_record(attributes=attrs), SpanClass.TOOL, None)
    assert step.command == "docker logs --since '10 min ago' web"
    assert (step.command_host, step.command_exit_code) == ("agent@nas.lan:2222", 0)


def test_steps_stored_before_the_columns_are_filled_at_upgrade(tmp_path: Path) -> None:
    db = tmp_path / "older.duckdb"
    run = span_record(
        "a" * 16,
        name="invoke_agent ops",
        attributes={A.GEN_AI_OPERATION_NAME: "invoke_agent", A.RUN_ID: "r1"},
        start_ns=1_000,
        end_ns=9_000,
    )
    tool = span_record(
        "b" * 16,
        name="execute_tool docker_logs",
        parent_span_id="a" * 16,
        attributes={A.GEN_AI_OPERATION_NAME: "execute_tool", A.GEN_AI_TOOL_NAME: "docker_logs"}
        | _SSH,
        start_ns=2_000,
        end_ns=3_000,
    )
    store = RunStore(db, startup_read_check=False, journal=False)
    try:
        store.write_spans([run, tool])
    finally:
        store.close()
    with duckdb.connect(str(db)) as con:  # as the version before wrote it
        con.execute("DROP INDEX agent_steps_run_id")
        for name in COMMAND_FIELDS:
            con.execute(f"ALTER TABLE agent_steps DROP COLUMN {name}")
        con.execute("CREATE INDEX agent_steps_run_id ON agent_steps (agent_run_id)")
        con.execute("DELETE FROM schema_version WHERE version >= 9")
    store = RunStore(db, startup_read_check=False, journal=False)
    store.close()
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            f"SELECT tool_name, {', '.join(COMMAND_FIELDS)} FROM agent_steps"
        ).fetchall()
        assert rows == [
            (
                "docker_logs",
                "docker logs --since '10 min ago' web",
                "agent@nas.lan:2222",
                "allowed",
                "allowed by policy",
                0,
            )
        ]
    # The filled rows are what a replay of the spans gives: verify finds nothing.
    report = verify_file(db)
    assert report["ok"], report
