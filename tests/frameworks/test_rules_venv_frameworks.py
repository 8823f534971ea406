"""The rules of the frameworks that run in their own venv (CrewAI, LlamaIndex, AutoGen), one
by one, on the value shapes SPANS.md records from the real packages; end to end in
test_venv_frameworks.py."""

from __future__ import annotations

import dataclasses
import json

from collector.conventions import autogen as AG
from collector.conventions import crewai as CR
from collector.conventions import llama_index as LI
from collector.decode import SpanRecord
from collector.mapping import SpanClass, classify
from collector.message_tools import told_tool_spans
from collector.rules import autogen, crewai, llama_index
from instrumentation.attributes import RunStatus
from tests.frameworks.test_rules import _span

_ERROR = 2


def _exception(kind: str, message: str) -> list[dict]:
    attrs = {"exception.type": kind, "exception.message": message}
    return [{"name": "exception", "attributes": attrs}]


# --- CrewAI -------------------------------------------------------------------------

_CREW_SETTINGS = json.dumps({"agent": {"role": "weather_agent", "max_iter": 2}, "context": ""})


def _crew_task(**extra: object) -> SpanRecord:
    attrs = {
        "openinference.span.kind": "AGENT",
        "graph.node.id": "weather_agent",
        "input.value": _CREW_SETTINGS,
    }
    attrs.update(extra)  # type: ignore[arg-type]
    return _span("weather_agent._execute_core", CR.SCOPE, attrs)


def _crew_call(n: int, *, status: int = 0, **extra: object) -> SpanRecord:
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.invocation_parameters": json.dumps({"model": "asked-for"}),
        "llm.model_name": "served",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "\nCurrent Task: [t] the task\n\nThis is the ...",
    }
    attrs.update(extra)  # type: ignore[arg-type]
    return _span(
        "ChatCompletion",
        "openinference.instrumentation.openai",
        attrs,
        span_id=f"{n:016x}",
        start_ns=n,
        status_code=status,
    )


def test_crewai_task_span_reads_the_task_output() -> None:
    output = json.dumps({"description": "[t] the task", "raw": "the answer", "agent": "x"})
    fields = crewai.run_fields(_crew_task(**{"output.value": output}))
    assert fields == {
        "agent_name": "weather_agent",
        "task": "[t] the task",
        "final_answer": "the answer",
    }


def test_crewai_agent_kickoff_task_is_its_messages() -> None:
    attrs = {"openinference.span.kind": "AGENT", "graph.node.id": "child_agent"}
    for messages in ("[t] what?", [{"role": "user", "content": "[t] what?"}]):
        value = json.dumps({"messages": messages})
        span = _span("child_agent.kickoff", CR.SCOPE, {**attrs, "input.value": value})
        assert crewai.run_fields(span) == {"agent_name": "child_agent", "task": "[t] what?"}


def test_crewai_settings_are_no_task() -> None:
    assert crewai.run_fields(_crew_task())["task"] is None  # failed: no output


def test_crewai_task_requested_model_and_step_limit_come_from_the_model_calls() -> None:
    calls = [_crew_call(n) for n in range(1, 4)]
    fields = crewai.derive_run_fields(_crew_task(), calls)
    assert fields == {
        "model_requested": "asked-for",
        "model_used": "served",
        "task": "[t] the task",
        "status": RunStatus.MAX_STEPS,
    }
    assert "status" not in crewai.derive_run_fields(_crew_task(), calls[:2])
    failed = [*calls[:2], _crew_call(3, status=_ERROR)]  # a failed retry is no extra turn
    assert "status" not in crewai.derive_run_fields(_crew_task(), failed)


# --- LlamaIndex ---------------------------------------------------------------------


def test_llama_index_agent_run_chain_is_the_run() -> None:
    for name in ("FunctionAgent.run", "ReActAgent.run", "AgentWorkflow.run"):
        span = _span(name, LI.SCOPE, {"openinference.span.kind": "CHAIN"})
        assert classify(span) is SpanClass.RUN
        assert llama_index.run_fields(span)["agent_name"] == name.removesuffix(".run")
    step = _span("BaseWorkflowAgent.run_agent_step", LI.SCOPE, {"openinference.span.kind": "CHAIN"})
    assert classify(step) is SpanClass.OTHER


def test_llama_index_only_the_call_with_messages_is_a_model_step() -> None:
    llm = {"openinference.span.kind": "LLM", "llm.model_name": "m"}
    prepare = _span("OpenAILike._prepare_chat_with_tools", LI.SCOPE, llm)
    outer = _span("OpenAILike.astream_chat", LI.SCOPE, llm)
    inner = _span(
        "OpenAILike.astream_chat", LI.SCOPE, {**llm, "llm.input_messages.0.message.role": "user"}
    )
    assert [classify(s) for s in (prepare, outer, inner)] == [
        SpanClass.OTHER,
        SpanClass.OTHER,
        SpanClass.LLM,
    ]


def test_llama_index_tool_output() -> None:
    ok = {"blocks": [{"text": "5"}], "raw_output": 5, "is_error": False}
    span = _span(
        "FunctionTool.acall",
        LI.SCOPE,
        {
            "openinference.span.kind": "TOOL",
            "tool.name": "add",
            "input.value": json.dumps({"kwargs": {"a": 2, "b": 3}}),
            "output.value": json.dumps(ok),
        },
    )
    assert llama_index.step_fields(span, "tool_call") == {
        "tool_args": {"a": 2, "b": 3},
        "tool_result": "5",
    }
    bad = {"blocks": [{"text": "no such city"}], "raw_output": None, "is_error": True}
    span = _span("FunctionTool.acall", LI.SCOPE, {"output.value": json.dumps(bad)})
    fields = llama_index.step_fields(span, "tool_call")
    assert fields["error"] == "no such city"


def test_llama_index_engine_called_on_its_own_is_a_run() -> None:
    chain = {"openinference.span.kind": "CHAIN"}
    for name in ("RetrieverQueryEngine.query", "SimpleChatEngine.achat", "X.astream_chat"):
        assert classify(_span(name, LI.SCOPE, chain)) is SpanClass.RUN
    # Inside an agent's tool (QueryEngineTool) it is the tool's work, not a run.
    inner = _span("RetrieverQueryEngine.aquery", LI.SCOPE, chain, parent_span_id="1" * 16)
    assert classify(inner) is SpanClass.OTHER
    # Another root CHAIN (a text splitter run by the program) is no run.
    assert classify(_span("TokenTextSplitter.split_text", LI.SCOPE, chain)) is SpanClass.OTHER


def test_llama_index_query_engine_tool_result_is_the_engine_s_answer() -> None:
    response = {"response": "Paris.", "source_nodes": [{"node": {"text": "..."}}], "metadata": {}}
    output = {"blocks": [{"text": "Paris."}], "raw_output": response, "is_error": False}
    span = _span("QueryEngineTool.acall", LI.SCOPE, {"output.value": json.dumps(output)})
    assert llama_index.step_fields(span, "tool_call")["tool_result"] == "Paris."
    # A tool returning a dict of its own keeps it as JSON, not its Python repr.
    data = {"blocks": [{"text": "{'city': 'Paris'}"}], "raw_output": {"city": "Paris"}}
    span = _span("FunctionTool.acall", LI.SCOPE, {"output.value": json.dumps(data)})
    assert llama_index.step_fields(span, "tool_call")["tool_result"] == '{"city": "Paris"}'


def test_llama_index_drops_the_injected_workflow_context() -> None:
    kwargs = {"to_agent": "writer", "ctx": "<workflows.context.context.Context object at 0x7f7d>"}
    span = _span("FunctionTool.acall", LI.SCOPE, {"input.value": json.dumps({"kwargs": kwargs})})
    assert llama_index.step_fields(span, "tool_call") == {"tool_args": {"to_agent": "writer"}}


def test_llama_index_max_iterations_is_the_step_limit() -> None:
    limit = _exception("workflows.errors.WorkflowRuntimeError", "Max iterations of 2 reached!")
    other = _exception("workflows.errors.WorkflowRuntimeError", "Something else")
    run = "FunctionAgent.run"
    assert llama_index.run_status(_span(run, LI.SCOPE, {}, events=limit)) == RunStatus.MAX_STEPS
    assert llama_index.run_status(_span(run, LI.SCOPE, {}, events=other)) is None


# --- AutoGen ------------------------------------------------------------------------


def test_autogen_core_invoke_agent_is_the_run_and_nothing_else_is() -> None:
    def core(op: str) -> SpanRecord:
        return _span(f"{op} x", AG.CORE_SCOPE, {"gen_ai.operation.name": op})

    oi_agent = _span(
        "weather_agent.on_messages_stream", AG.AGENTCHAT_SCOPE, {"openinference.span.kind": "AGENT"}
    )
    assert classify(core("invoke_agent")) is SpanClass.RUN
    assert classify(core("create_agent")) is SpanClass.OTHER
    assert classify(core("execute_tool")) is SpanClass.OTHER
    assert classify(oi_agent) is SpanClass.OTHER


def test_autogen_tool_error_comes_from_the_core_span_inside() -> None:
    tool = _span(
        "weather_agent.flaky",
        AG.AGENTCHAT_SCOPE,
        {"openinference.span.kind": "TOOL", "output.value": "x must be 2"},
    )
    inner = _span(
        "execute_tool flaky",
        AG.CORE_SCOPE,
        {"gen_ai.operation.name": "execute_tool"},
        span_id="2" * 16,
        parent_span_id=tool.span_id,
        status_code=_ERROR,
        status_message="ValueError: x must be 2",
    )
    by_id = {tool.span_id: tool, inner.span_id: inner}
    assert autogen.derive_step_fields(tool, by_id) == {"error": "ValueError: x must be 2"}
    fine = {tool.span_id: tool, inner.span_id: dataclasses.replace(inner, status_code=0)}
    assert autogen.derive_step_fields(tool, fine) == {}


# AutoGen teams: the shapes of RoundRobinGroupChat / Swarm runs (SPANS.md).


def _team(stop_reason: str | None, *, last: dict | None = None, **extra: object) -> SpanRecord:
    messages = [{"source": "user", "content": "[t] write", "type": "TextMessage"}]
    messages.append(last or {"source": "writer", "content": "draft two", "type": "TextMessage"})
    messages.append(
        {"source": "writer", "content": [{"name": "add"}], "type": "ToolCallRequestEvent"}
    )
    attrs = {
        "openinference.span.kind": "CHAIN",
        "input.value": json.dumps({"task": "[t] write", "cancellation_token": None}),
        "output.value": json.dumps({"messages": messages, "stop_reason": stop_reason}),
    }
    return _span("RoundRobinGroupChat.run_stream", AG.AGENTCHAT_SCOPE, attrs, **extra)


def test_autogen_team_is_a_run_named_after_its_class() -> None:
    team = _team("Text 'APPROVE' mentioned")
    assert classify(team) is SpanClass.RUN
    other_chain = _span("x.run", AG.AGENTCHAT_SCOPE, {"openinference.span.kind": "CHAIN"})
    assert classify(other_chain) is SpanClass.OTHER
    assert autogen.run_fields(team) == {
        "agent_name": "RoundRobinGroupChat",
        "task": "[t] write",
        "final_answer": "draft two",  # the last chat message, inner events skipped
    }
    assert autogen.run_status(team) is None


def test_autogen_team_task_given_as_messages() -> None:
    for task in (
        {"source": "user", "content": "[t] as a message", "type": "TextMessage"},
        [{"source": "user", "content": "[t] as a message", "type": "TextMessage"}],
    ):
        span = _span(
            "Swarm.run_stream",
            AG.AGENTCHAT_SCOPE,
            {"openinference.span.kind": "CHAIN", "input.value": json.dumps({"task": task})},
        )
        assert autogen.run_fields(span)["task"] == "[t] as a message"


def test_autogen_team_task_given_after_an_earlier_exchange_is_the_question_after_it() -> None:
    # An earlier exchange (the user's question, an agent's answer) before the new question:
    # the task is the question that opened this turn, not the first one.
    exchange = [
        {"source": "user", "content": "[t] the capital of France?", "type": "TextMessage"},
        {"source": "writer", "content": "Paris.", "type": "TextMessage"},
        {"source": "user", "content": "And its population?", "type": "TextMessage"},
        {"source": "user", "content": "In millions.", "type": "TextMessage"},
    ]
    span = _span(
        "RoundRobinGroupChat.run_stream",
        AG.AGENTCHAT_SCOPE,
        {"openinference.span.kind": "CHAIN", "input.value": json.dumps({"task": exchange})},
    )
    assert autogen.run_fields(span)["task"] == "And its population?"


def test_autogen_team_task_given_as_a_message_object_is_its_text() -> None:
    # The team's span holds a message object given as the task as its pydantic repr.
    handoff = (
        "id='1' source='user' models_usage=None metadata={} created_at=datetime.datetime(2026, "
        "1, 1) content=\"it's Paris, 'please'\" target='booker' context=[] type='HandoffMessage'"
    )
    text = "id='2' source='user' models_usage=None metadata={} content='a\\nb' type='TextMessage'"
    for task, expected in (
        (handoff, "it's Paris, 'please'"),
        ([text], "a\nb"),
        ("a plain task, type='XMessage' said", "a plain task, type='XMessage' said"),
    ):
        span = _span(
            "Swarm.run_stream",
            AG.AGENTCHAT_SCOPE,
            {"openinference.span.kind": "CHAIN", "input.value": json.dumps({"task": task})},
        )
        assert autogen.run_fields(span)["task"] == expected


def test_autogen_team_stopped_by_a_turn_or_message_limit_is_max_steps() -> None:
    for reason in (
        "Maximum number of turns 3 reached.",
        "Maximum number of messages 4 reached, current message count: 4",
    ):
        team = _team(reason)
        assert autogen.run_status(team) == RunStatus.MAX_STEPS
        assert autogen.run_fields(team)["error"] == reason
    # A text mention that fired with the limit ended the team by design.
    both = (
        "Text 'APPROVE' mentioned, Maximum number of messages 4 reached, current message count: 4"
    )
    assert autogen.run_status(_team(both)) is None
    assert (
        autogen.run_status(_team("Maximum number of turns 3 reached.", status_code=_ERROR)) is None
    )


def test_autogen_failed_team_error_has_no_traceback() -> None:
    message = "BadRequestError: Error code: 400 - boom\nTraceback:\nTraceback (most recent ..."
    team = _span(
        "RoundRobinGroupChat.run_stream",
        AG.AGENTCHAT_SCOPE,
        {"openinference.span.kind": "CHAIN"},
        status_code=_ERROR,
        status_message=message,
    )
    assert autogen.run_fields(team)["error"] == "BadRequestError: Error code: 400 - boom"
    assert autogen.run_fields(team)["final_answer"] is None


def _ag_call(n: int, *, tools: bool) -> SpanRecord:
    output = {"finish_reason": "function_calls" if tools else "stop", "content": "x"}
    return _span(
        "OpenAIChatCompletionClient.create",
        AG.AGENTCHAT_SCOPE,
        {"openinference.span.kind": "LLM", "output.value": json.dumps(output)},
        span_id=f"{n:016x}",
        start_ns=n * 10,
        end_ns=n * 10 + 1,
    )


def _ag_tool(n: int, name: str = "add", description: str = "Add.", result: str = "3") -> SpanRecord:
    attrs = {
        "openinference.span.kind": "TOOL",
        "tool.name": name,
        "tool.description": description,
        "output.value": result,
    }
    return _span(f"a.{name}", AG.AGENTCHAT_SCOPE, attrs, span_id=f"{n:016x}", start_ns=n * 10 + 2)


_AG_RUN = _span("invoke_agent a", AG.CORE_SCOPE, {"gen_ai.operation.name": "invoke_agent"})


def test_autogen_tool_loop_ended_at_max_tool_iterations_is_max_steps() -> None:
    at_limit = [_ag_call(1, tools=True), _ag_tool(2), _ag_call(3, tools=True), _ag_tool(4)]
    assert autogen.derive_run_fields(_AG_RUN, at_limit) == {"status": RunStatus.MAX_STEPS}
    answered = [*at_limit, _ag_call(5, tools=False)]  # a text answer (or a reflection) after
    assert autogen.derive_run_fields(_AG_RUN, answered) == {}
    failed = dataclasses.replace(_AG_RUN, status_code=_ERROR)
    assert autogen.derive_run_fields(failed, at_limit) == {}


def test_autogen_single_tool_iteration_answers_with_the_tool_results() -> None:
    once = [_ag_call(1, tools=True), _ag_tool(2, result="5")]
    assert autogen.derive_run_fields(_AG_RUN, once) == {"final_answer": "5"}


def test_autogen_hand_off_is_no_step_limit() -> None:
    handoff = _ag_tool(4, "transfer_to_writer", "Handoff to writer.", "Transferred to writer")
    spans = [_ag_call(1, tools=True), _ag_tool(2), _ag_call(3, tools=True), handoff]
    assert autogen.derive_run_fields(_AG_RUN, spans) == {}
    renamed = _ag_tool(4, "give_to_writer", "Handoff to writer.", "ok")
    assert autogen.derive_run_fields(_AG_RUN, [*spans[:3], renamed]) == {}


# --- CrewAI hierarchical ------------------------------------------------------------


def test_crewai_coworker_calls_inside_a_delegation_are_not_the_managers_turns() -> None:
    manager = _crew_task(**{"graph.node.id": "Crew Manager"})
    delegate = _span(
        "Delegate work to coworker.run",
        CR.SCOPE,
        {"openinference.span.kind": "TOOL", "tool.name": "Delegate work to coworker"},
        span_id="d" * 16,
        parent_span_id=manager.span_id,
    )
    own = [dataclasses.replace(_crew_call(n), parent_span_id=manager.span_id) for n in (2, 3)]
    coworker = dataclasses.replace(
        _crew_call(4, **{"llm.model_name": "coworker-model"}), parent_span_id=delegate.span_id
    )
    fields = crewai.derive_run_fields(manager, [*own, delegate, coworker])
    assert "status" not in fields  # two own calls within max_iter 2, the coworker's aside
    assert fields["model_used"] == "served"  # the manager's model, though the coworker was last
    fields = crewai.derive_run_fields(manager, [*own, delegate, coworker, _crew_call(5)])
    assert fields["status"] == RunStatus.MAX_STEPS


def test_a_team_reports_the_model_its_agents_used() -> None:
    from collector import frameworks

    team = _team("Text 'APPROVE' mentioned")
    turn = _span(
        "invoke_agent writer",
        AG.CORE_SCOPE,
        {"gen_ai.operation.name": "invoke_agent"},
        span_id="2" * 16,
        parent_span_id=team.span_id,
    )
    call = _span(
        "OpenAIChatCompletionClient.create",
        AG.AGENTCHAT_SCOPE,
        {"openinference.span.kind": "LLM", "llm.model_name": "m1"},
        span_id="3" * 16,
        parent_span_id=turn.span_id,
    )
    fields = frameworks.derive_run_fields(
        team, [team, turn, call], is_run=lambda s: classify(s) is SpanClass.RUN
    )
    assert (fields["model_requested"], fields["model_used"]) == ("m1", "m1")
    assert "task" not in fields and fields["final_answer"] is None  # the turn's, not the team's


def test_a_selector_choice_is_no_team_answer() -> None:
    from collector import frameworks

    team = _team(None, status_code=0)
    team = dataclasses.replace(team, attributes={"openinference.span.kind": "CHAIN"})
    selector = _span(
        "OpenAIChatCompletionClient.create",
        AG.AGENTCHAT_SCOPE,
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "m1",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "writer",
        },
        span_id="3" * 16,
        parent_span_id=team.span_id,
    )
    fields = frameworks.derive_run_fields(
        team, [team, selector], is_run=lambda s: classify(s) is SpanClass.RUN
    )
    assert fields["final_answer"] is None and fields["model_used"] == "m1"


def _client_call(system: str) -> SpanRecord:
    """An OpenAI client's model call (OpenInference) sent ``Tool not found`` for a call."""
    flat = "llm.input_messages"
    attrs = {
        "openinference.span.kind": "LLM",
        f"{flat}.0.message.role": "system",
        f"{flat}.0.message.content": system,
        f"{flat}.1.message.role": "user",
        f"{flat}.1.message.content": "Current Task: the weather\n\nThis is the expected ...",
        f"{flat}.2.message.role": "assistant",
        f"{flat}.2.message.tool_calls.0.tool_call.id": "call_0",
        f"{flat}.2.message.tool_calls.0.tool_call.function.name": "get_wether",
        f"{flat}.2.message.tool_calls.0.tool_call.function.arguments": '{"city": "Oslo"}',
        f"{flat}.3.message.role": "tool",
        f"{flat}.3.message.tool_call_id": "call_0",
        f"{flat}.3.message.content": "Tool not found",
    }
    return _span("ChatCompletion", "openinference.instrumentation.openai", attrs, start_ns=5000)


def test_crewai_unknown_tool_is_read_from_its_agents_client_calls_only() -> None:
    """CrewAI's ``Tool not found`` is a failed call with the model's arguments where the
    client's span is a CrewAI agent's call (its agent prompt); another app's is left."""
    crew = _client_call("You are weather_agent. Careful.\nYour personal goal is: Answer.")
    (stand_in,) = told_tool_spans([crew])
    attrs = stand_in.attributes
    assert (attrs["gen_ai.tool.name"], json.loads(attrs["gen_ai.tool.call.arguments"])) == (
        "get_wether",
        {"city": "Oslo"},
    )
    assert (stand_in.status_code, stand_in.status_message) == (2, "Tool not found")
    assert told_tool_spans([_client_call("You are a helpful assistant.")]) == []
