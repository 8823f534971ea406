"""Frameworks first met as an outside user would run them, as they really traced the shared
agent (``captured/capture_<name>.py``, which say the versions): their spans are sent over the
wire to a real collector and every run and step is read against what the framework itself
returned (``<name>.expected.json``, written by the same capture)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CollectorHandle
from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured_runs import (
    body_of,
    capture_runs,
    check_tools,
    expected_of,
    lone_steps,
    run_steps,
    send_capture,
    settled_runs,
    tools_of,
    trace_ids,
)
from tests.span_items import request_of, span_items


def test_agent_framework_runs_read_as_it_returned(module_collector: CollectorHandle) -> None:
    """Microsoft Agent Framework's own GenAI spans: ``invoke_agent``, ``chat``,
    ``execute_tool`` with the conventions' keys; the conventions alone read them."""
    expected = expected_of("agent_framework")
    runs = capture_runs(module_collector, "agent_framework", 4)
    done = expected["success"]
    run = runs[done["task"]]
    assert run[1:7] == ("WeatherAgent", "completed", done["task"], done["answer"], None, None)
    assert (run[8], run[9]) == (done["input_tokens"], done["output_tokens"])
    assert run[10:12] == ("scripted-maf", "scripted-maf-served")
    steps = run_steps(module_collector, run[0])
    # Each tool after the model call that asked for it.
    assert [s[0] for s in steps] == ["think", "tool_call"] * 3 + ["think"]
    assert sum(1 for s in steps if s[0] == "think") == done["model_calls"]
    check_tools(steps, done["tools"])
    # The framework hands the model "Error: Function failed."; the span keeps the cause.
    assert steps[1][5] == f"TimeoutError('{S.WEATHER_ERROR}')"

    failing = expected["fails"]
    run = runs[failing["task"]]
    assert run[1:5] == ("WeatherAgent", "failed", failing["task"], None)
    assert S.MODEL_ERROR in run[5] and run[5].startswith("ChatClientException")
    assert [(s[0], s[4]) for s in run_steps(module_collector, run[0])] == [("think", "error")]

    sub = expected["sub_agent"]
    parent, child = runs[sub["task"]], runs[sub["sub_task"]]
    assert parent[1:7] == ("Manager", "completed", sub["task"], sub["answer"], None, None)
    assert (parent[8], parent[9]) == (sub["input_tokens"], sub["output_tokens"])
    check_tools(run_steps(module_collector, parent[0]), sub["tools"])
    # The agent behind the tool is a child run, answering what the tool returned.
    assert child[1:7] == ("Converter", "completed", sub["sub_task"], sub["tools"][0]["result"],
                          None, parent[0])  # fmt: skip
    assert [s[0] for s in run_steps(module_collector, child[0])] == ["think", "tool_call", "think"]


def test_langfuse_observations_read_as_the_loop_returned(module_collector: CollectorHandle) -> None:
    """The Langfuse SDK's observations: an ``agent`` is a run, a ``tool`` a tool step, a
    ``generation`` a model call; the top ``@observe()`` span a run too; a lone generation a
    model call of no run."""
    expected = expected_of("langfuse")
    runs = capture_runs(module_collector, "langfuse", 5)
    done = expected["success"]
    run = runs[done["task"]]
    assert run[1:7] == ("weather_agent", "completed", done["task"], done["answer"], None, None)
    # Langfuse records the model that answered, not the one asked for.
    assert run[8:12] == (460, 46, "scripted-langfuse-served", "scripted-langfuse-served")
    steps = run_steps(module_collector, run[0])
    assert [s[0] for s in steps] == ["think", "tool_call"] * 3 + ["think"]
    assert sum(1 for s in steps if s[0] == "think") == done["model_calls"]
    assert [s[7] for s in steps if s[0] == "think"] == [100, 110, 120, 130]
    check_tools(steps, done["tools"])
    # The script told the model "error: ..."; the tool's observation failed with the cause.
    assert steps[1][5] == S.WEATHER_ERROR

    failing = expected["fails"]
    run = runs[failing["task"]]
    assert run[1:6] == ("weather_agent", "failed", failing["task"], None,
                        failing["raised"].split(": ", 1)[1])  # fmt: skip
    assert [(s[0], s[4], s[5]) for s in run_steps(module_collector, run[0])] == [
        ("think", "error", run[5])
    ]

    sub = expected["sub_agent"]
    parent, child = runs[sub["task"]], runs[sub["sub_task"]]
    assert parent[2:7] == ("completed", sub["task"], sub["answer"], None, None)
    assert child[2:7] == ("completed", sub["sub_task"], "64.4F", None, parent[0])
    by_name = {t["name"]: t for t in sub["tools"]}
    parent_steps = run_steps(module_collector, parent[0])
    assert tools_of(parent_steps) == [("converter", by_name["converter"]["args"], False)]
    assert parent_steps[1][3] == child[4]
    assert tools_of(run_steps(module_collector, child[0])) == [
        ("to_fahrenheit", by_name["to_fahrenheit"]["args"], False)
    ]

    plain = expected["plain"]
    run = runs[plain["task"]]
    assert run[1:7] == ("ask", "completed", plain["task"], plain["answer"], None, None)
    # The observed helper building the prompt is no step.
    assert [(s[0], s[7]) for s in run_steps(module_collector, run[0])] == [("think", 20)]

    lone = expected["lone"]
    assert lone["task"] not in runs
    rows = lone_steps(
        module_collector, body_of("langfuse"), "agent_run_id, action_type, model, input_tokens"
    )
    assert rows == [(None, "think", "scripted-langfuse-served", 7)]


def test_langfuse_context_managers_and_own_generations(module_collector: CollectorHandle) -> None:
    """An agent opened with ``start_as_current_observation``, a generation of the user's own
    (a plain HTTP call, Langfuse's usage names), and a tool whose exception ends the run."""
    expected = expected_of("langfuse_manual")
    runs = capture_runs(module_collector, "langfuse_manual", 2)
    done = expected["success"]
    run = runs[done["task"]]
    assert run[1:7] == ("manual_agent", "completed", done["task"], done["answer"], None, None)
    assert run[8:12] == (90, 9, "scripted-local-served", "scripted-local-served")
    steps = run_steps(module_collector, run[0])
    assert [(s[0], s[7]) for s in steps] == [("think", 40), ("tool_call", None), ("think", 50)]
    check_tools(steps, [dict(t, error=False) for t in done["tools"]])

    raised = expected["raises"]
    # Given an object, the run's task is the user message its model call was sent.
    run = runs[raised["task"]]
    assert run[1:7] == ("manual_agent", "failed", raised["task"], None, raised["raised"], None)
    steps = run_steps(module_collector, run[0])
    assert [(s[0], s[4]) for s in steps] == [("think", "ok"), ("tool_call", "error")]
    tool = raised["tool"]
    assert (steps[1][1], json.loads(steps[1][2]), steps[1][3]) == (tool["name"], tool["args"], None)
    assert steps[1][5] == S.WEATHER_ERROR


def _roots_last(body: bytes) -> tuple[bytes, bytes]:
    """``body`` as two requests: every span with a parent, then the roots (a live exporter
    sends a long loop's model calls before the span around them, which ends last)."""
    items = span_items(body)
    calls = request_of(item for item in items if item[2].parent_span_id)
    roots = request_of(item for item in items if not item[2].parent_span_id)
    return calls.SerializeToString(), roots.SerializeToString()


@pytest.mark.parametrize("delivery", ["one request", "roots last", "roots first"])
@pytest.mark.parametrize("name", ["client_loop_openllmetry", "client_loop_logfire"])
def test_a_program_span_around_model_calls_is_their_run(
    collector: CollectorHandle, name: str, delivery: str
) -> None:
    """A loop written by hand, traced only by an LLM client's instrumentation (OpenLLMetry's
    OpenAI one, Logfire's ``instrument_openai``) inside a span of the script's own (a plain
    one, a ``logfire.span``): that span is the run, its model calls the steps, the same
    whether the span came with its calls, after them or before them; a lone call stays a
    step of no run (SPANS.md)."""
    expected = expected_of(name)
    body = body_of(name)
    traces = trace_ids(body)
    calls, roots = _roots_last(body)
    if delivery == "one request":
        send_capture(collector, body)
    elif delivery == "roots last":
        send_capture(collector, calls)
        waiting = collector.query(
            "SELECT count(*) FROM agent_runs WHERE trace_id IN (SELECT unnest(?))", [traces]
        )
        assert waiting == [(2,)]  # stand-ins until the spans around the calls arrive
        send_capture(collector, roots)
    else:  # the program's span stored first (exported by another process, say)
        send_capture(collector, roots)
        send_capture(collector, calls)

    done_row, failed_row = settled_runs(collector, body, 2, what=name)
    served = "scripted-loop-served"
    done = expected["success"]
    assert done_row[2:8] == ("completed", done["task"], done["answer"], None, None, 4)
    assert done_row[8:12] == (460, 46, "scripted-loop", served)
    steps = run_steps(collector, done_row[0])
    assert [(s[0], s[4], s[6], s[7]) for s in steps] == [
        ("think", "ok", served, n) for n in (100, 110, 120, 130)
    ]
    fails = expected["fails"]
    assert failed_row[2:5] == ("failed", fails["task"], None)
    assert S.MODEL_ERROR in failed_row[5]
    failed_steps = run_steps(collector, failed_row[0])
    assert [(s[0], s[4]) for s in failed_steps] == [("think", "error")]
    assert done_row[1] == failed_row[1] and done_row[1]  # named after the program's span
    lone = lone_steps(collector, body, "agent_run_id, action_type, status, input_tokens")
    assert lone == [(None, "think", "ok", 7)]


def test_openlit_trace_groups_a_loop_into_a_run(module_collector: CollectorHandle) -> None:
    """A loop written by hand under ``openlit.init()``, each conversation one function
    decorated with ``@openlit.trace``: that span is the run, OpenLIT's model calls its
    steps; a lone call outside any is a step of no run."""
    expected = expected_of("client_loop_openlit")
    body = body_of("client_loop_openlit")
    send_capture(module_collector, body)
    done_row, failed_row = settled_runs(module_collector, body, 2, what="the OpenLIT capture")
    done = expected["success"]
    assert done_row[1:7] == ("weather_loop", "completed", done["task"], done["answer"], None, None)
    assert done_row[8:12] == (460, 46, "scripted-loop", "scripted-loop-served")
    steps = run_steps(module_collector, done_row[0])
    assert [(s[0], s[4], s[7]) for s in steps] == [("think", "ok", n) for n in (100, 110, 120, 130)]
    assert len(steps) == done["model_calls"]
    # OpenLIT's model-call span names the tool call it asked for (gen_ai.tool.call.id): the
    # step carries that tool's name and the result the next call was sent (SPANS.md).
    assert [(s[1], s[3]) for s in steps[:3]] == [(t["name"], t["result"]) for t in done["tools"]]

    assert expected["fails"]["raised"].startswith("InternalServerError")
    # OpenLIT records no arguments of a failed call and no messages of a failed model call:
    # nothing in the trace tells this run's task.
    assert failed_row[1:5] == ("weather_loop", "failed", None, None)
    assert S.MODEL_ERROR in failed_row[5] and failed_row[5].startswith("InternalServerError")
    assert [(s[0], s[4]) for s in run_steps(module_collector, failed_row[0])] == [
        ("think", "error")
    ]

    lone = lone_steps(module_collector, body, "action_type, input_tokens")
    assert lone == [("think", 7)]
    assert expected["lone"]["answer"] == "Hello!"
