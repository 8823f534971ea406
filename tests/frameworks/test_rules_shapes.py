"""The readings behind the shapes of tests/frameworks/scenario_shapes.py, one by one, on the
value shapes SPANS.md records (conversations, streamed and structured answers, step limits,
merged and handed-over calls); end to end in test_collector_frameworks.py and
test_venv_frameworks.py."""

from __future__ import annotations

import json

from collector import frameworks
from collector.conventions import autogen as AG
from collector.cut_values import cut_json_string
from collector.mapping import SpanClass, build_run, classify
from collector.messages import json_field, responses_messages, turn_user_text
from collector.rules import (
    autogen,
    google_adk,
    langchain_messages,
    langchain_openinference,
    llama_index,
    openai_agents,
    smolagents,
    strands,
)
from collector.rules.common import text_blocks
from instrumentation.attributes import RunStatus
from instrumentation.redaction import Redactor
from tests.frameworks.test_rules import _span

_ERROR = 2


def _user(text: str) -> dict:
    return {"role": "user", "parts": [{"type": "text", "content": text}]}


def _assistant(text: str) -> dict:
    return {"role": "assistant", "parts": [{"type": "text", "content": text}]}


def test_the_task_is_the_message_that_opened_the_turn() -> None:
    history = [_user("first question"), _assistant("first answer"), _user("second question")]
    assert turn_user_text(json.dumps(history)) == "second question"
    assert turn_user_text(json.dumps(history[:1])) == "first question"
    # A tool round inside the turn: still the request that opened it.
    tool_round = [
        *history,
        {"role": "assistant", "parts": [{"type": "tool_call", "name": "get_weather"}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "response": "sunny"}]},
    ]
    # Later calls of the turn end on the tool round: the last request still opened it.
    assert turn_user_text(json.dumps(tool_round)) == "second question"
    lc_input = {"messages": [["user", "hi"], ["ai", "hello"], ["user", "and now?"]]}
    assert langchain_messages.turn_user_text(json.dumps(lc_input)) == "and now?"


def test_pydantic_ai_task_starts_at_the_new_messages() -> None:
    messages = [_user("first question"), _assistant("first answer"), _user("second question")]
    attrs = {
        "gen_ai.operation.name": "invoke_agent",
        "pydantic_ai.all_messages": json.dumps([*messages, _assistant("second answer")]),
        "pydantic_ai.new_message_index": 2,
        "final_result": "second answer",
    }
    run = _span("invoke_agent agent", "pydantic-ai", attrs)
    assert frameworks.run_fields(run)["task"] == "second question"
    del attrs["pydantic_ai.new_message_index"]  # no history: the first user message
    assert frameworks.run_fields(_span("invoke_agent agent", "pydantic-ai", attrs))["task"] == (
        "first question"
    )


def test_pydantic_ai_request_limit_is_the_step_limit() -> None:
    def run(message: str) -> str:
        event = {
            "name": "exception",
            "attributes": {
                "exception.type": "pydantic_ai.exceptions.UsageLimitExceeded",
                "exception.message": message,
            },
        }
        span = _span(
            "invoke_agent agent",
            "pydantic-ai",
            {"gen_ai.operation.name": "invoke_agent"},
            status_code=_ERROR,
            status_message=f"UsageLimitExceeded: {message}",
            events=[event],
        )
        return str(build_run(span, None).status)

    assert run("The next request would exceed the request_limit of 2") == RunStatus.MAX_STEPS
    assert run("The next tool call(s) would exceed the tool_calls_limit of 3") == "max_steps"
    assert run("Exceeded the total_tokens_limit of 100 (total_tokens=120)") == "failed"


def test_openai_agents_max_turns_is_the_step_limit() -> None:
    agent = _span(
        "weather_agent",
        "openinference.instrumentation.openai_agents",
        {"openinference.span.kind": "AGENT", "agent.name": "weather_agent"},
        status_code=_ERROR,
        status_message="Max turns exceeded: {'max_turns': 2}",
    )
    row = build_run(agent, None)
    assert (row.status, row.error) == ("max_steps", "Max turns exceeded: {'max_turns': 2}")


def test_a_streamed_responses_object_is_read_as_messages() -> None:
    text = {"type": "message", "content": [{"type": "output_text", "text": "streamed answer"}]}
    call = {"type": "function_call", "name": "get_weather", "arguments": "{}"}
    streamed = json.dumps([{"object": "response", "output": [text], "usage": None}])
    assert responses_messages(streamed) == [{"role": "assistant", "content": "streamed answer"}]
    assert responses_messages(json.dumps({"output": [call]})) == [
        {"role": "assistant", "tool_calls": True}
    ]
    assert responses_messages('{"messages": []}') == []
    generation = _span(
        "generation",
        "openinference.instrumentation.openai_agents",
        {"openinference.span.kind": "LLM", "output.value": streamed},
    )
    run = _span(
        "weather_agent",
        "openinference.instrumentation.openai_agents",
        {"openinference.span.kind": "AGENT", "agent.name": "weather_agent"},
        span_id="2" * 16,
    )
    generation = _span(
        "generation",
        "openinference.instrumentation.openai_agents",
        dict(generation.attributes),
        parent_span_id=run.span_id,
    )
    fields = frameworks.derive_run_fields(
        run, [run, generation], is_run=lambda s: classify(s) is SpanClass.RUN
    )
    assert fields["final_answer"] == "streamed answer"


def test_a_field_is_read_from_json_a_redaction_broke() -> None:
    broken = '{"task": "[t] Write a report.", "cancellation_token": [REDACTED], "x": true}'
    assert json_field(broken, "task") == "[t] Write a report."
    assert json_field('{"task": "ok"}', "task") == "ok"
    assert json_field("no json here", "task") is None


def test_autogen_team_task_survives_a_redacted_argument_and_its_turns_work_on_it() -> None:
    team = _span(
        "RoundRobinGroupChat.run_stream",
        AG.AGENTCHAT_SCOPE,
        {
            "openinference.span.kind": "CHAIN",
            "input.value": '{"task": "[t] Write a report.", "cancellation_token": [REDACTED]}',
        },
        span_id="1" * 16,
    )
    turn = _span(
        "invoke_agent writer",
        AG.CORE_SCOPE,
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "writer"},
        span_id="2" * 16,
        parent_span_id=team.span_id,
    )
    child = _span(
        "invoke_agent helper",
        AG.CORE_SCOPE,
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper"},
        span_id="3" * 16,
        parent_span_id=turn.span_id,
    )
    assert autogen.run_fields(team)["task"] == "[t] Write a report."
    spans = [team, turn, child]
    assert autogen.derive_run_fields_in_trace(turn, [], spans) == {"task": "[t] Write a report."}
    assert autogen.derive_run_fields_in_trace(child, [], spans) == {}  # a sub-agent's own task


def test_adk_merged_tool_responses_are_no_step() -> None:
    merged = _span(
        "execute_tool (merged)",
        "gcp.vertex.agent",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "(merged tools)"},
    )
    assert google_adk.span_class(merged) == "other"


def _adk_call(span_id: str, parent: str, request: dict, response: dict) -> object:
    return _span(
        "call_llm",
        "gcp.vertex.agent",
        {
            "gcp.vertex.agent.llm_request": json.dumps(request),
            "gcp.vertex.agent.llm_response": json.dumps(response),
        },
        span_id=span_id * 16,
        parent_span_id=parent * 16,
        start_ns=int(span_id, 16),
        end_ns=int(span_id, 16) + 1,
    )


def test_adk_workflow_and_transfer_answer_with_their_sub_agents() -> None:
    asked = {"contents": [{"role": "user", "parts": [{"text": "[t] the task"}]}]}
    said = {"content": {"role": "model", "parts": [{"text": "the sub-agent's answer"}]}}
    transfer_call = {"content": {"parts": [{"function_call": {"name": "transfer_to_agent"}}]}}
    pipeline = _span("agent_run [pipeline]", "gcp.vertex.agent", {}, span_id="a" * 16)
    step = _span(
        "agent_run [step]", "gcp.vertex.agent", {}, span_id="b" * 16, parent_span_id="a" * 16
    )
    call = _adk_call("c", "b", asked, said)
    fields = google_adk.derive_run_fields_in_trace(pipeline, [step], [pipeline, step, call])
    assert fields == {"task": "[t] the task", "final_answer": "the sub-agent's answer"}
    parent = _span("agent_run [parent]", "gcp.vertex.agent", {}, span_id="1" * 16)
    own_call = _adk_call("2", "1", asked, transfer_call)
    transfer = _span(
        "execute_tool transfer_to_agent",
        "gcp.vertex.agent",
        {"gen_ai.operation.name": "execute_tool"},
        span_id="3" * 16,
        parent_span_id="2" * 16,
        start_ns=3,
    )
    child = _span(
        "agent_run [child]", "gcp.vertex.agent", {}, span_id="4" * 16, parent_span_id="1" * 16
    )
    child_call = _adk_call("5", "4", asked, said)
    trace = [parent, own_call, transfer, child, child_call]
    found = google_adk.derive_run_fields_in_trace(parent, [own_call, transfer], trace)
    assert found == {"final_answer": "the sub-agent's answer"}


def test_smolagents_positional_arguments_streams_and_dict_answers() -> None:
    scope = "openinference.instrumentation.smolagents"
    tool = _span(
        "SimpleTool",
        scope,
        {
            "openinference.span.kind": "TOOL",
            "tool.name": "get_weather",
            "input.value": json.dumps({"args": ["Paris"], "kwargs": {}}),
            "tool.parameters": json.dumps({"city": {"type": "string"}}),
        },
    )
    assert smolagents.step_fields(tool, "tool_call") == {"tool_args": {"city": "Paris"}}
    streamed = _span(
        "agent.run",
        scope,
        {"input.value": json.dumps({"task": "t", "stream": True}), "output.value": "ToolCall(..."},
    )
    assert smolagents.run_fields(streamed) == {"final_answer": None}
    as_dict = _span("agent.run", scope, {"output.value": "{'city': 'Paris', 'temp': 21}"})
    assert json.loads(smolagents.run_fields(as_dict)["final_answer"]) == {
        "city": "Paris",
        "temp": 21,
    }


def test_strands_structured_output_is_the_answer_and_the_response_step() -> None:
    scope = "strands.telemetry.tracer"
    run = _span(
        "invoke_agent agent",
        scope,
        {"gen_ai.operation.name": "invoke_agent"},
        events=[{"name": "gen_ai.choice", "attributes": {"message": '{"city":"Paris","temp":21}'}}],
    )
    assert strands.run_fields(run)["final_answer"] == '{"city":"Paris","temp":21}'
    tool = _span(
        "execute_tool Weather",
        scope,
        {
            "gen_ai.tool.name": "Weather",
            "gen_ai.tool.description": "IMPORTANT: This StructuredOutputTool should only be ...",
        },
        events=[{"name": "gen_ai.tool.message", "attributes": {"content": '{"city": "Paris"}'}}],
    )
    fields = strands.step_fields(tool, "tool_call")
    assert (fields["action_type"], fields["tool_name"]) == ("response", None)
    assert json.loads(fields["tool_result"]) == {"city": "Paris"}


def test_langgraph_structured_response_is_the_answer() -> None:
    state = {"messages": [{"type": "ai", "data": {"content": ""}}], "structured_response": {"a": 1}}
    assert json.loads(langchain_messages.final_answer(json.dumps(state)) or "") == {"a": 1}
    assert langchain_messages.final_answer(json.dumps({"outputs": state})) == '{"a": 1}'


def test_llama_index_react_answer_is_what_follows_answer() -> None:
    scope = "openinference.instrumentation.llama_index"
    run = _span("ReActAgent.run", scope, {"openinference.span.kind": "CHAIN"})
    call = _span(
        "OpenAILike.astream_chat",
        scope,
        {
            "openinference.span.kind": "LLM",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "[t] weather?",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": (
                "Thought: I can answer without using any more tools.\nAnswer: It is sunny."
            ),
        },
        parent_span_id=run.span_id,
    )
    assert llama_index.derive_run_fields(run, [call]) == {"final_answer": "It is sunny."}
    plain = _span(
        call.name, scope, {**call.attributes, "llm.output_messages.0.message.content": "Hi"}
    )
    assert llama_index.derive_run_fields(run, [plain]) == {}  # a FunctionAgent's text stays


def test_langgraph_agents_are_runs_by_their_graph_not_by_the_agent_kind() -> None:
    scope = "openinference.instrumentation.langchain"

    def span(name: str, kind: str, **metadata: object) -> object:
        attrs = {"openinference.span.kind": kind, "metadata": json.dumps(metadata)}
        return _span(name, scope, attrs)

    team = span("team", "CHAIN", ls_integration="langgraph")
    holder = span(
        "support_agent", "AGENT", ls_integration="langgraph", langgraph_node="support_agent"
    )
    agent = span(
        "researcher",
        "CHAIN",
        ls_integration="langchain_create_agent",
        langgraph_node="researcher",
        lc_agent_name="researcher",
    )
    model_node = span("model", "CHAIN", langgraph_node="model", lc_agent_name="researcher")
    assert [classify(s) for s in (team, holder, agent, model_node)] == [
        SpanClass.RUN,
        SpanClass.OTHER,
        SpanClass.RUN,
        SpanClass.OTHER,
    ]
    assert build_run(team, None).agent_name == "team"


def test_openai_agents_input_guardrail_tripwire_fails_the_run() -> None:
    scope = "openinference.instrumentation.openai_agents"
    agent = _span("triage", scope, {"openinference.span.kind": "AGENT", "agent.name": "triage"})
    message = "Guardrail tripwire triggered: {'guardrail': 'no_secrets'}"
    turn = _span(
        "turn",
        scope,
        {"openinference.span.kind": "CHAIN"},
        span_id="2" * 16,
        parent_span_id=agent.span_id,
        status_code=_ERROR,
        status_message=message,
    )
    assert openai_agents.derive_run_fields(agent, [turn]) == {"status": "failed", "error": message}
    assert openai_agents.derive_run_fields(agent, []) == {}


def test_openai_agents_run_ending_on_a_failed_turn_failed() -> None:
    """The SDK traces an error it raises itself (an answer that is not the ``output_type``'s
    JSON) on the turn only; the agent span ends OK. The run ended on that turn: failed with
    its error. A failed turn the run went on after (a model call started later) fails
    nothing."""
    scope = "openinference.instrumentation.openai_agents"
    agent = _span("writer", scope, {"openinference.span.kind": "AGENT", "agent.name": "writer"},
                  start_ns=1, end_ns=100)  # fmt: skip
    turn = _span("turn", scope, {"openinference.span.kind": "CHAIN"}, span_id="2" * 16,
                 parent_span_id=agent.span_id, start_ns=10, end_ns=50, status_code=_ERROR,
                 status_message="Invalid JSON provided: {}")  # fmt: skip
    call = _span("generation", scope, {"openinference.span.kind": "LLM",
                 "output.value": "Sunny."}, span_id="3" * 16, parent_span_id=turn.span_id,
                 start_ns=11, end_ns=40)  # fmt: skip
    failed = {"status": "failed", "error": "Invalid JSON provided", "final_answer": None}
    assert openai_agents.derive_run_fields(agent, [turn, call]) == failed
    later = _span("generation", scope, {"openinference.span.kind": "LLM",
                  "output.value": "Sunny."}, span_id="4" * 16, start_ns=60, end_ns=70)  # fmt: skip
    next_turn = _span("turn", scope, {"openinference.span.kind": "CHAIN"}, span_id="5" * 16,
                      start_ns=55, end_ns=80)  # fmt: skip
    assert openai_agents.derive_run_fields(agent, [turn, call, next_turn, later]) == {}
    wrapped = "Error in turn: {'error': 'the output is no record'}"
    said = _span("turn", scope, {"openinference.span.kind": "CHAIN"}, span_id="6" * 16,
                 start_ns=10, end_ns=50, status_code=_ERROR, status_message=wrapped)  # fmt: skip
    assert (
        openai_agents.derive_run_fields(agent, [said, call])["error"] == "the output is no record"
    )


def test_smolagents_stand_in_task_is_the_request_not_the_prompt() -> None:
    """A run known only by its steps (its span never ended) takes its task from its first
    model call, whose user message is smolagents' ``New task:`` prompt around the request."""
    assert smolagents.prompted_task("New task:\nWhat is the weather?") == "What is the weather?"
    managed = (
        "New task:\nYou're a helpful agent named 'child'.\n"
        "You have been submitted this task by your manager.\n---\nTask:\nAdd 2 and 3\n---\n"
        "You're helping your manager solve a wider task: so make sure to not provide a one-line"
    )
    assert smolagents.prompted_task(managed) == "Add 2 and 3"
    assert smolagents.prompted_task("Plain request") == "Plain request"


def _cut(value: str) -> str:
    """``value`` as the collector stores it when it is over the size limit."""
    redactor = Redactor()
    return str(redactor.mapping({"v": value}, redactor.budget(), truncate=True)["v"])


def test_a_long_tool_output_cut_to_a_preview_is_read_from_its_message() -> None:
    output = "é" + "x" * 200_000
    lc_message = json.dumps({"type": "tool", "data": {"content": output, "status": "success"}})
    read = langchain_messages.tool_message(_cut(lc_message))
    assert read is not None and read["text"].startswith("éxxx")
    assert "truncated by agent-audit" in read["text"] and '"data"' not in read["text"]
    blocks = json.dumps([{"text": output}])
    assert (text_blocks(_cut(blocks)) or "").startswith("éxxx")
    assert cut_json_string(lc_message, ("content",)) is None  # whole JSON: read as usual
    assert cut_json_string(_cut("y" * 100_000), ("content",)) is None  # no JSON in it
    # An escape the cut split is dropped, not decoded wrong.
    split = '{"content": "ab\\u00' + "\n…[truncated by agent-audit: 9 bytes, sha256=00ff]"
    assert (cut_json_string(split, ("content",)) or "").startswith("ab\n…[truncated")


def test_langgraph_prebuilt_tool_node_input_gives_the_arguments() -> None:
    scope = "openinference.instrumentation.langchain"
    call = {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}
    node_inputs = [
        [call],  # create_agent: the calls
        {"__type": "tool_call_with_context", "tool_call": call, "state": {"messages": []}},
        {"messages": [{"type": "ai", "data": {"content": "", "tool_calls": [call]}}]},
    ]
    for node_input in node_inputs:
        node = _span(
            "tools",
            scope,
            {"openinference.span.kind": "CHAIN", "input.value": json.dumps(node_input)},
        )
        tool = _span(
            "get_weather",
            scope,
            {"openinference.span.kind": "TOOL", "tool.name": "get_weather", "input.value": "Paris"},
            span_id="2" * 16,
            parent_span_id=node.span_id,
        )
        found = langchain_openinference.derive_step_fields(tool, {node.span_id: node})
        assert found == {"tool_args": {"city": "Paris"}}, node_input


def test_a_long_adk_tool_result_is_read_from_its_wrapper() -> None:
    response = _cut(json.dumps({"result": "z" * 100_000}))
    tool = _span(
        "execute_tool big",
        "gcp.vertex.agent",
        {"gen_ai.operation.name": "execute_tool", "gcp.vertex.agent.tool_response": response},
    )
    assert google_adk.step_fields(tool, "tool_call")["tool_result"].startswith("zzz")
