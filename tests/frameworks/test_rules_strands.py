"""The Strands rule (collector/rules/strands.py) for a multi-agent Swarm, on the span shapes
strands-agents 1.62 writes (``invoke_swarm`` above one ``invoke_agent`` span per turn); the
end-to-end check with the real Swarm is test_strands_swarm.py."""

from __future__ import annotations

import json
from typing import Any

from collector.decode import SpanRecord
from collector.mapping import SpanClass, build_run, classify
from collector.rules import strands
from tests.records import span_record

SCOPE = "strands.telemetry.tracer"
TASK = "Write a haiku about Paris."


def _span(span_id: str, name: str, attributes: dict[str, Any], **extra: Any) -> SpanRecord:
    fields: dict[str, Any] = {
        "span_id": span_id * 16,
        "attributes": {"gen_ai.system": "strands-agents", **attributes},
        "trace_id": "t" * 32,
        "kind": 3,
        "scope_name": SCOPE,
        **extra,
    }
    return span_record(name=name, **fields)


def _event(name: str, **attributes: str) -> dict[str, Any]:
    return {"name": name, "time_unix_nano": 1, "attributes": attributes}


def _swarm(**extra: Any) -> SpanRecord:
    return _span(
        "1",
        "invoke_swarm",
        {"gen_ai.operation.name": "invoke_swarm"},
        events=[_event("gen_ai.user.message", content=TASK)],
        **extra,
    )


def _turn(span_id: str, agent: str, answer: str, end_ns: int, **extra: Any) -> SpanRecord:
    blocks = json.dumps([{"text": f"Context:\nUser Request: {TASK}"}])
    return _span(
        span_id,
        f"invoke_agent {agent}",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": agent,
            "gen_ai.request.model": f"model-of-{agent}",
        },
        parent_span_id="1" * 16,
        end_ns=end_ns,
        events=[
            _event("gen_ai.user.message", content=blocks),
            _event("gen_ai.choice", message=answer, finish_reason="end_turn"),
        ],
        **extra,
    )


def test_a_swarm_span_is_a_run_named_swarm_with_its_task() -> None:
    swarm = _swarm()
    assert classify(swarm) is SpanClass.RUN
    run = build_run(swarm, None)
    assert (run.agent_name, run.task) == ("swarm", TASK)
    assert run.final_answer is None  # Strands puts no answer on the swarm's span
    assert strands.span_class(_turn("2", "writer", "x", 5)) is None  # a turn: generic rules
    graph = _span("4", "invoke_graph", {"gen_ai.operation.name": "invoke_graph"})
    assert classify(graph) is SpanClass.RUN
    assert build_run(graph, None).agent_name == "graph"


def test_a_swarm_answers_with_its_last_turn() -> None:
    turns = [_turn("3", "writer", "the haiku", 9), _turn("2", "researcher", "over", 5)]
    fields = strands.derive_run_fields(_swarm(), turns)
    assert fields == {"final_answer": "the haiku", "model_used": "model-of-writer"}


def test_a_failed_swarm_or_last_turn_gives_no_answer() -> None:
    turns = [_turn("2", "researcher", "over", 5)]
    assert strands.derive_run_fields(_swarm(status_code=2, status_message="boom"), turns) == {}
    failed = [*turns, _turn("3", "writer", "half", 9, status_code=2, status_message="400")]
    assert strands.derive_run_fields(_swarm(), failed) == {}
    # A single agent's run is left to the generic rules.
    assert strands.derive_run_fields(_turn("2", "researcher", "over", 5), []) == {}


def _handoff(span_id: str, turn: SpanRecord, to: str, **extra: Any) -> SpanRecord:
    arguments = json.dumps({"agent_name": to, "message": "your turn"})
    return _span(
        span_id,
        "execute_tool handoff_to_agent",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "handoff_to_agent"},
        parent_span_id=turn.span_id,
        end_ns=turn.end_ns - 1,
        events=[_event("gen_ai.tool.message", content=arguments)],
        **extra,
    )


def test_a_last_turn_handing_off_to_an_agent_that_never_ran_is_the_hand_off_limit() -> None:
    first, last = _turn("2", "researcher", "over", 5), _turn("3", "writer", "back", 9)
    trace = [
        _swarm(),
        first,
        last,
        _handoff("4", first, "writer"),
        _handoff("5", last, "researcher"),
    ]
    fields = strands.derive_run_fields_in_trace(_swarm(), [first, last], trace)
    assert fields["status"] == "max_steps" and fields["final_answer"] is None
    assert "writer handed off to 'researcher', which never ran" in fields["error"]


def test_a_hand_off_taken_up_or_failed_is_not_the_limit() -> None:
    first, last = _turn("2", "researcher", "over", 5), _turn("3", "writer", "done", 9)
    taken = [_swarm(), first, last, _handoff("4", first, "writer")]
    assert strands.derive_run_fields_in_trace(_swarm(), [first, last], taken) == {}
    refused = [*taken, _handoff("5", last, "researcher", status_code=2)]
    assert strands.derive_run_fields_in_trace(_swarm(), [first, last], refused) == {}
    graph = _span("6", "invoke_graph", {"gen_ai.operation.name": "invoke_graph"})
    assert strands.derive_run_fields_in_trace(graph, [first, last], taken) == {}


def test_a_tool_span_ended_without_its_status_was_cut_by_ctrl_c() -> None:
    # Captured (1.62): Ctrl-C in a tool ends its span OK with no ``gen_ai.tool.status`` and
    # no result; every tool that returned or raised has the status.
    cut = _span(
        "4",
        "execute_tool interrupt",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "interrupt"},
        status_code=1,
        events=[_event("gen_ai.tool.message", content='{"city": "Oslo"}')],
    )
    assert strands.step_fields(cut, "tool_call") == {
        "tool_args": {"city": "Oslo"},
        "error": "cancelled",
    }
    finished = _span(
        "5",
        "execute_tool get_weather",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.status": "success",
        },
        status_code=1,
        events=[_event("gen_ai.choice", message='[{"text": "sunny in Oslo"}]')],
    )
    assert strands.step_fields(finished, "tool_call") == {"tool_result": "sunny in Oslo"}


def test_a_tool_result_under_the_latest_conventions_is_its_blocks_text() -> None:
    # OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental (1.62): no gen_ai.choice
    # event; the result is the attribute gen_ai.tool.call.result, the same content blocks.
    report = json.dumps({"city": "Paris", "tags": ["café"]}, ensure_ascii=False)
    for text, status in ((report, "success"), ("Error: x must be 2", "error")):
        tool = _span(
            "6",
            "execute_tool weather_report",
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "weather_report",
                "gen_ai.tool.status": status,
                "gen_ai.tool.call.result": json.dumps([{"text": text}]),
            },
            status_code=1,
        )
        fields = strands.step_fields(tool, "tool_call")
        assert fields["tool_result"] == text
        assert fields.get("error") == (text if status == "error" else None)


def test_a_run_answer_under_the_latest_conventions_has_no_trailing_newline() -> None:
    # The run's output message is str(AgentResult): the model's text plus a newline.
    output = [{"role": "assistant", "parts": [{"type": "text", "content": "Sunny ☀\n"}]}]
    request = [{"role": "user", "parts": [{"type": "text", "content": TASK}]}]
    run = _span(
        "7",
        "invoke_agent weather_agent",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather_agent"},
        events=[
            _event(
                "gen_ai.client.inference.operation.details",
                **{
                    "gen_ai.input.messages": json.dumps(request),
                    "gen_ai.output.messages": json.dumps(output),
                },
            )
        ],
    )
    fields = strands.run_fields(run)
    assert (fields["task"], fields["final_answer"]) == (TASK, "Sunny ☀")
