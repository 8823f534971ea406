"""The explorer's pure parts: the span tree, transcripts, step alignment, SQL text, times."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from dashboard.compare import align_steps, text_diff
from dashboard.formatting import format_cost, format_local_time, format_relative
from dashboard.span_tree import build_tree, filter_tree, step_kind, step_preview
from dashboard.transcript import read_transcript

RUN = {"id": "r1", "started_at": "2025-03-01T10:00:00Z", "duration_ms": 10_000}


def _step(number: int, start_s: float, duration_ms: float, **fields: object) -> dict[str, object]:
    return {
        "id": f"s{number}",
        "span_id": f"{number:016x}",
        "step_number": number,
        "started_at": f"2025-03-01T10:00:{start_s:06.3f}Z",
        "duration_ms": duration_ms,
        "status": "ok",
        **fields,
    }


def test_tree_nests_tool_calls_under_their_llm_turn_on_one_time_axis() -> None:
    llm = _step(1, 0, 5000, action_type="think", model="qwen", input_tokens=10, output_tokens=2)
    tool = _step(
        2, 1, 2000, action_type="tool_call", tool_name="df", tool_args={"path": "/"},
        tool_result="42% used", parent_span_id=llm["span_id"],
    )  # fmt: skip
    answer = _step(3, 6, 1000, action_type="response", tool_result="done")
    layout = build_tree(RUN, [answer, tool, llm])
    rows = layout.rows
    assert [r.key for r in rows] == ["s1", "s2", "s3"]  # time order, children after parents
    assert [r.depth for r in rows] == [0, 1, 0]
    assert rows[0].has_children and not rows[1].has_children
    assert [r.kind for r in rows] == ["llm", "tool", "response"]
    assert rows[1].start_pct == pytest.approx(10.0) and rows[1].width_pct == pytest.approx(20.0)
    assert rows[1].preview == "(path=/) → 42% used"
    assert layout.span_ms == pytest.approx(10_000)
    assert layout.ticks() == ["0", "2.5 s", "5.0 s", "7.5 s", "10.0 s"]


def test_sub_agent_runs_and_failed_steps_get_their_own_kind() -> None:
    failed = _step(1, 0, 10, action_type="tool_call", tool_name="rm", error="permission denied")
    failed["status"] = "error"
    child = {"id": "c1", "status": "failed", "agent_name": "helper", "task": "sub task",
             "started_at": "2025-03-01T10:00:02Z", "duration_ms": 100}  # fmt: skip
    rows = build_tree(RUN, [failed], [child]).rows
    assert rows[0].failed and rows[0].preview.startswith("✗ permission denied")
    assert rows[1].key == "run:c1" and rows[1].kind == "agent" and rows[1].failed


def test_a_sub_agent_run_nests_under_the_step_that_called_it() -> None:
    tool = _step(1, 0, 500, action_type="tool_call", tool_name="ask_helper")
    child = {"id": "c1", "status": "completed", "agent_name": "helper",
             "started_at": "2025-03-01T10:00:00.100Z", "duration_ms": 300}  # fmt: skip
    stray = {**child, "id": "c2"}
    rows = build_tree(RUN, [tool], [child, stray], sub_run_steps={"c1": "s1", "c2": "gone"}).rows
    assert [(r.key, r.parent, r.depth) for r in rows] == [
        ("s1", None, 0),
        ("run:c1", "s1", 1),
        ("run:c2", None, 0),  # a step that is not in this run: the top level
    ]
    assert rows[0].has_children


def test_a_parent_cycle_in_bad_data_still_draws_each_step_once() -> None:
    a = _step(1, 0, 10, action_type="tool_call", tool_name="a")
    b = _step(2, 1, 10, action_type="tool_call", tool_name="b", parent_span_id=a["span_id"])
    a["parent_span_id"] = b["span_id"]
    assert sorted(r.key for r in build_tree(RUN, [a, b]).rows) == ["s1", "s2"]


def test_search_and_errors_only_keep_matches_and_their_parents() -> None:
    llm = _step(1, 0, 5000, action_type="think", model="qwen")
    tool = _step(2, 1, 10, action_type="tool_call", tool_name="df",
                 tool_args={"path": "/srv"}, parent_span_id=llm["span_id"], status="error",
                 error="boom")  # fmt: skip
    other = _step(3, 6, 10, action_type="tool_call", tool_name="ls", tool_result="a b")
    steps = {str(s["id"]): s for s in (llm, tool, other)}
    rows = build_tree(RUN, list(steps.values())).rows
    assert [r.key for r in filter_tree(rows, steps, query="/SRV")] == ["s1", "s2"]
    assert [r.key for r in filter_tree(rows, steps, errors_only=True)] == ["s1", "s2"]
    assert [r.key for r in filter_tree(rows, steps, query="a b")] == ["s3"]
    assert filter_tree(rows, steps, query="nothing like it") == []
    assert filter_tree(rows, steps) == rows


def test_step_kinds_and_previews() -> None:
    assert step_kind({"action_type": "think"}) == "llm"
    assert step_kind({"action_type": "tool_call", "tool_name": "x"}) == "tool"
    assert step_kind({"action_type": "response"}) == "response"
    assert step_kind({"action_type": "terminate"}) == "terminate"
    long = {"action_type": "tool_call", "tool_name": "x", "tool_result": "y" * 500}
    assert len(step_preview(long)) <= 90
    # A step that ran a command on a server is previewed by the command, not its arguments.
    ran = {
        "action_type": "tool_call",
        "tool_name": "docker_logs",
        "tool_args": {"container": "web", "tail": 5},
        "command": "docker logs --tail 5 web",
        "tool_result": "ready",
    }
    assert step_preview(ran) == "$ docker logs --tail 5 web → ready"


def test_transcript_reads_genai_messages_with_tool_calls_and_answers() -> None:
    attrs = {
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
        "gen_ai.input.messages": json.dumps([
            {"role": "user", "parts": [{"type": "text", "content": "Disk?"}]},
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c0",
                                        "response": "91% used"}]},
        ]),
        "gen_ai.output.messages": json.dumps([
            {"role": "assistant", "parts": [
                {"type": "tool_call", "id": "c1", "name": "df", "arguments": {"path": "/"}}]}
        ]),
    }  # fmt: skip
    transcript = read_transcript(attrs)
    assert transcript.source == "gen_ai"
    roles = [(m.role, m.text, m.is_output) for m in transcript.messages]
    assert roles[:3] == [("system", "Be brief.", False), ("user", "Disk?", False),
                         ("tool", "91% used", False)]  # fmt: skip
    call = transcript.messages[3].tool_calls[0]
    assert (
        transcript.messages[3].is_output and call.name == "df" and '"path": "/"' in call.arguments
    )


def test_transcript_reads_openai_style_openinference_and_legacy_attributes() -> None:
    openai_style = {
        "gen_ai.input.messages": [{"role": "user", "content": "hi"}],
        "gen_ai.output.messages": [{"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "function": {"name": "ls", "arguments": "{\"d\": 1}"}}]}],
    }  # fmt: skip
    messages = read_transcript(openai_style).messages
    assert messages[0].text == "hi" and messages[1].tool_calls[0].name == "ls"

    flat = {
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "What is up?",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "uptime",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": "{}",
    }
    transcript = read_transcript(flat)
    assert transcript.source == "openinference"
    assert [m.role for m in transcript.messages] == ["user", "assistant"]
    assert (
        transcript.messages[1].is_output and transcript.messages[1].tool_calls[0].name == "uptime"
    )

    legacy = {
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "q",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "a",
    }
    assert [m.text for m in read_transcript(legacy).messages] == ["q", "a"]
    assert read_transcript({}).is_empty and read_transcript(None).is_empty


def test_transcript_keeps_json_nested_past_the_recursion_limit_as_text() -> None:
    # json.loads raises RecursionError on such text; the collector's readers keep it as
    # text (collector/json_text.py), and so does the transcript instead of failing.
    deep = "[" * 5000 + "]" * 5000
    flat = {
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "ls",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": deep,
    }
    assert read_transcript(flat).messages[0].tool_calls[0].arguments == deep
    assert read_transcript({"gen_ai.input.messages": deep}).is_empty
    assert read_transcript({"ai.prompt.messages": deep, "ai.response.text": "a"}).messages


def test_alignment_pairs_same_shaped_steps_and_marks_the_extra_one() -> None:
    a = [
        {"action_type": "tool_call", "tool_name": "ps", "tool_args": {"all": True},
         "tool_result": "x", "duration_ms": 10},
        {"action_type": "tool_call", "tool_name": "logs", "tool_args": {"n": 5},
         "tool_result": "err", "duration_ms": 10},
    ]  # fmt: skip
    b = [
        {"action_type": "tool_call", "tool_name": "ps", "tool_args": '{"all": true}',
         "tool_result": "x", "duration_ms": 1000},
        {"action_type": "tool_call", "tool_name": "inspect", "tool_args": {}, "duration_ms": 5},
        {"action_type": "tool_call", "tool_name": "logs", "tool_args": {"n": 50},
         "tool_result": "err", "duration_ms": 10},
    ]  # fmt: skip
    pairs = align_steps(a, b)
    assert [(p.a is not None, p.b is not None) for p in pairs] == [
        (True, True), (False, True), (True, True)]  # fmt: skip
    assert pairs[0].differs == ("duration",)  # same arguments, JSON text or not
    assert pairs[1].only_in == "b"
    assert pairs[2].differs == ("arguments",)
    assert '-  "n": 5' in text_diff({"n": 5}, {"n": 50})


def test_times_are_local_and_relative_and_costs_readable() -> None:
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert format_relative("2025-03-01T11:57:00Z", now) == "3 min ago"
    assert format_relative("2025-03-01T11:59:50Z", now) == "just now"
    assert format_relative("2025-02-27T12:00:00Z", now) == "2 d ago"
    assert format_local_time("2025-03-01T11:00:00Z", "Europe/Berlin", now) == "12:00:00"
    assert format_local_time("2025-02-01T11:00:00Z", None, now) == "Feb 01 11:00"
    assert format_local_time("2025-03-01T11:00:00Z", "Not/AZone", now) == "11:00:00"
    assert format_cost(None) == "" and format_cost(0) == "$0"
    assert format_cost(0.001234) == "$0.0012" and format_cost(1.5) == "$1.50"
    # A small model's call: millionths of a dollar are shown, never "$0.0000".
    assert format_cost(0.000021) == "$0.000021" and format_cost(0.00009876) == "$0.000099"
    assert format_cost(3e-10) == "<$0.00000001"


def test_transcript_of_the_ai_sdk_before_and_since_version_5() -> None:
    """AI SDK 4 names a call's arguments ``args`` and a result ``result``; 5 and later
    ``input`` and ``output`` (a result wrapped as ``{type, value}``)."""
    for arguments, result in (("args", "result"), ("input", "output")):
        answer: object = {"celsius": 18}
        if result == "output":
            answer = {"type": "json", "value": answer}
        prompt = [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
            {"role": "assistant", "content": [
                {"type": "tool-call", "toolCallId": "c1", "toolName": "weather",
                 arguments: {"city": "Rome"}},
            ]},
            {"role": "tool", "content": [
                {"type": "tool-result", "toolCallId": "c1", "toolName": "weather", result: answer},
            ]},
        ]  # fmt: skip
        transcript = read_transcript(
            {"ai.prompt.messages": json.dumps(prompt), "ai.response.text": "18 C in Rome."}
        )
        messages = transcript.messages
        assert [m.role for m in messages] == ["system", "user", "assistant", "tool", "assistant"]
        assert json.loads(messages[2].tool_calls[0].arguments) == {"city": "Rome"}
        assert (messages[3].tool_call_id, json.loads(messages[3].text)) == ("c1", {"celsius": 18})
        assert messages[4].is_output and messages[4].text == "18 C in Rome."
