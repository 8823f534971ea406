"""Haystack's other shapes, as it really traced them (``captured/capture_haystack.py``, which
says the versions): a pipeline of a retriever and an agent, an agent stopping on a tool, two
tool calls in one answer, the step limit, a streamed agent and an agent used as another's
tool. Haystack's tools have no span: their steps are read from the messages, so they are
checked here against what Haystack returned, and against a replay of the stored spans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from collector.rules.haystack_reprs import chat_message
from collector.verify import verify_file
from tests.conftest import CollectorHandle, start_test_collector
from tests.frameworks.test_captured_frameworks import _send, _trace_ids
from tests.support import wait_until

CAPTURED = Path(__file__).parent / "captured"
EXPECTED = json.loads((CAPTURED / "haystack.expected.json").read_text())
RUNS = "id, agent_name, status, task, final_answer, error, parent_run_id, total_steps"
STEPS = "action_type, tool_name, tool_args, tool_result, status, error"


def _settled_runs(collector: CollectorHandle, body: bytes, count: int) -> list[tuple[Any, ...]]:
    traces = _trace_ids(body)

    def settled() -> list[tuple[Any, ...]] | None:
        rows = collector.query(
            f"SELECT {RUNS} FROM agent_runs WHERE trace_id IN (SELECT unnest(?)) "
            "ORDER BY started_at",
            [traces],
        )
        done = len(rows) == count and all(r[2] != "running" for r in rows)
        return rows if done and sum(r[7] for r in rows) else None

    return wait_until(settled, timeout_s=15, what=f"{count} haystack runs")


def _steps(collector: CollectorHandle, run_id: str) -> list[tuple[Any, ...]]:
    return collector.query(
        f"SELECT {STEPS} FROM agent_steps WHERE agent_run_id = ? ORDER BY step_number", [run_id]
    )


def _tools(steps: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The tool steps in the shape of the expectations file."""
    return [
        {
            "name": s[1],
            "args": json.loads(s[2]),
            "error": s[4] == "error",
            "result": s[3] if s[4] == "ok" else s[5],
        }
        for s in steps
        if s[0] == "tool_call"
    ]


def test_a_pipeline_is_a_run_and_its_agent_a_child_run(module_collector: CollectorHandle) -> None:
    body = (CAPTURED / "haystack_rag.otlp").read_bytes()
    _send(module_collector, body)
    rag = EXPECTED["rag"]
    pipeline, agent = _settled_runs(module_collector, body, 2)
    # The pipeline's one text input is its task; its answer is its agent's.
    assert pipeline[1:7] == ("Pipeline", "completed", rag["query"], rag["answer"], None, None)
    assert agent[1:7] == (
        "Agent", "completed", f"{rag['documents'][0]}\n[haystack-rag] Where is the Eiffel Tower?",
        rag["answer"], None, pipeline[0],
    )  # fmt: skip
    # The prompt builder is plumbing; the retriever is no step either (SPANS.md).
    assert _steps(module_collector, pipeline[0]) == []
    assert [s[0] for s in _steps(module_collector, agent[0])] == ["think"]


def test_each_shape_reads_as_haystack_returned_it(module_collector: CollectorHandle) -> None:
    body = (CAPTURED / "haystack_shapes.otlp").read_bytes()
    _send(module_collector, body)
    shapes = dict(EXPECTED["shapes"])
    raises = shapes.pop("raises")
    runs = {r[3]: r for r in _settled_runs(module_collector, body, len(shapes) + 2)}
    for key, shape in shapes.items():
        run = runs[shape["task"]]
        steps = _steps(module_collector, run[0])
        assert _tools(steps) == shape["tools"], key
        assert sum(1 for s in steps if s[0] == "think") == shape["model_calls"], key
        assert run[7] == len(steps) == shape["model_calls"] + len(shape["tools"]), key
        # Each tool ran after the model call that asked for it.
        assert steps[0][0] == "think", key
        status = "max_steps" if shape["exit_reason"] == "max_agent_steps" else "completed"
        assert (run[2], run[5], run[6]) == (status, None, None), key
    # Its answer: the text it ended on, or the result of the tool it stopped on (Haystack's
    # last_message is then that tool's message); none at the step limit.
    assert runs[shapes["two_calls"]["task"]][4] == shapes["two_calls"]["answer"]
    assert runs[shapes["streamed"]["task"]][4] == shapes["streamed"]["answer"]
    assert runs[shapes["exit_on_tool"]["task"]][4] == shapes["exit_on_tool"]["tools"][-1]["result"]
    assert runs[shapes["max_steps"]["task"]][4] is None
    parent = runs[shapes["sub_agent"]["task"]]
    assert parent[4] == shapes["sub_agent"]["answer"]
    child = runs[shapes["sub_agent"]["sub_task"]]
    assert child[6] == parent[0]
    assert child[4] == shapes["sub_agent"]["tools"][0]["result"]
    # A tool that raised ends the run: the step is read from the Agent's exception.
    run = runs[raises["task"]]
    error = raises["raised"].split(": ", 1)[1]
    assert (run[2], run[4], run[5]) == ("failed", None, raises["raised"])
    steps = _steps(module_collector, run[0])
    assert [(s[0], s[4], s[5]) for s in steps] == [
        ("think", "ok", None),
        ("tool_call", "error", error),
    ]
    assert (steps[1][1], json.loads(steps[1][2]), steps[1][3]) == (
        raises["tool"], raises["args"], None,
    )  # fmt: skip


def test_tool_steps_read_from_messages_are_rebuilt_from_the_stored_spans(
    tmp_path: Path,
) -> None:
    """They are no stored span: verification's replay of the spans makes the same rows."""
    db = tmp_path / "audit.duckdb"
    handle = start_test_collector(db)
    try:
        body = (CAPTURED / "haystack.otlp").read_bytes()
        _send(handle, body)
        _settled_runs(handle, body, 2)
        tools = handle.query("SELECT count(*) FROM agent_steps WHERE action_type = 'tool_call'")
    finally:
        handle.stop()
    assert tools == [(len(EXPECTED["success"]["tools"]),)]
    report = verify_file(db)
    assert report["ok"], report


def test_a_message_cut_short_keeps_what_was_read() -> None:
    whole = (
        "ChatMessage(_role=<ChatRole.TOOL: 'tool'>, _content=[ToolCallResult(result='64.4', "
        "origin=ToolCall(tool_name='to_fahrenheit', arguments={'celsius': 18}, id='c1', "
        "extra=None), error=False), ToolCallResult(result='a long resu"
    )
    assert chat_message(whole) == {
        "role": "tool",
        "tool_results": [
            {"id": "c1", "name": "to_fahrenheit", "arguments": {"celsius": 18}, "result": "64.4",
             "error": False},
        ],
    }  # fmt: skip
    assert chat_message("ChatMessage(_role=<ChatRole.USER: 'user'>, _content=[__import__('os')")
    assert chat_message("not a message") is None
    assert chat_message(42) is None
