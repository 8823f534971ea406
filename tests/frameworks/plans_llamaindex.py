"""LlamaIndex's scenarios, for its agent script (venv_agents/llamaindex_agent.py).

LlamaIndex's documented behaviours the expectations follow:

- a tool that raises becomes an error tool output the model reads; the run goes on;
- a failed model call ends the run with the client's error;
- past ``max_iterations`` the workflow raises ``WorkflowRuntimeError`` (no answer);
- a sub-agent is an agent run from a tool of its parent ("agents as tools");
- in an ``AgentWorkflow`` an agent hands over with the ``handoff`` tool: one workflow run,
  whose steps are both agents' calls.

The run span is ``FunctionAgent.run`` (no agent name on it): the agent's name is in its
steps' state (``current_agent_name``). The spans record the requested model only.
"""

from __future__ import annotations

from dataclasses import replace

from tests.frameworks import scenario as S
from tests.frameworks import scenario_shapes as shapes
from tests.frameworks.venv_frameworks import (
    PlannedScenario,
    concurrent_plan,
    conversation_plan,
    nested_plan,
    single_plan,
)
from tests.scripted_llm import answer, call_tool

MODEL_NAME = "scripted-llamaindex"
AGENT_NAME = "weather_agent"  # FunctionAgent(name=...), read from its steps' state
FRAMEWORK = S.Framework(marker_prefix="li", agent_name=AGENT_NAME, model_name=MODEL_NAME)
STEP_LIMIT_ERROR = "Max iterations of 2 reached"
HANDOFF_ARGS = {"to_agent": "writer", "reason": "the writer writes"}
HANDOFF_RESULT = "Agent writer is now handling the request"
HANDOFF_ANSWER = "the writer's report"
CAPITAL_ANSWER = "Paris."  # what the query engine's model call answers
QUERY_TOOL_ARGS = {"input": "capital of France"}  # QueryEngineTool's one argument


def _single(name: str, scenario: S.Scenario) -> PlannedScenario:
    expected = replace(scenario.expected, model_requested=MODEL_NAME)
    return single_plan(name, scenario, expected, answered=scenario.expected.status == "completed")


def _cancelled() -> PlannedScenario:
    """The caller cancels the run (``handler.cancel_run()``) once its weather tool ran."""
    scenario = S.scenario(
        FRAMEWORK,
        "cancel",
        "What is the weather in Oslo? (cancelled midway)",
        [call_tool("get_weather", {"city": "Oslo"}), answer("never read")],
        status="cancelled",
        final_answer=None,
        tools=[S.ToolExpectation("get_weather", {"city": "Oslo"}, "sunny in Oslo")],
        model_requested=MODEL_NAME,
    )
    return PlannedScenario(
        name="cancelled",
        tasks=[scenario.task],
        scripted=[scenario],
        expected=[scenario.expected],
        answers=[None],
        errors=["WorkflowCancelledByUser"],
    )


def _engines() -> list[PlannedScenario]:
    """No agent: a query engine over an index (``index.as_query_engine().query(q)``) and a
    chat engine's two turns (``SimpleChatEngine.chat``), each call a run of its own named
    after the engine; then an agent whose tool is that query engine (``QueryEngineTool``):
    the tool's result is the engine's answer (not its Response JSON), the model call it made
    one more step of the agent's run."""
    query = S.scenario(
        FRAMEWORK,
        "query",
        "What is the capital of France?",
        [answer(CAPITAL_ANSWER)],
        status="completed",
        final_answer=CAPITAL_ANSWER,
        tools=[],
        agent_name="RetrieverQueryEngine",
        model_requested=MODEL_NAME,
    )
    hello = S.scenario(
        FRAMEWORK,
        "chat",
        "Hello!",
        [answer("Hello, how can I help?"), answer("Goodbye!")],
        status="completed",
        final_answer="Hello, how can I help?",
        tools=[],
        agent_name="SimpleChatEngine",
        model_requested=MODEL_NAME,
    )
    bye = replace(hello.expected, task=f"{S.tag('li-chat-bye')} Bye!", final_answer="Goodbye!")
    geo_answer = "The capital of France is Paris."
    asked = S.scenario(
        FRAMEWORK,
        "query-tool",
        "What is the French capital?",
        [call_tool("facts", QUERY_TOOL_ARGS), answer(geo_answer)],
        status="completed",
        final_answer=geo_answer,
        tools=[S.ToolExpectation("facts", QUERY_TOOL_ARGS, CAPITAL_ANSWER)],
        agent_name="geo_agent",
        model_requested=MODEL_NAME,
        llm_steps_at_least=3,
    )
    # The engine inside the tool is asked the tool's input, with no marker of its own.
    inner = S.Scenario(QUERY_TOOL_ARGS["input"], [answer(CAPITAL_ANSWER)], asked.expected)
    return [
        _single("query_engine", query),
        PlannedScenario(
            name="chat_engine",
            tasks=[hello.task, bye.task],
            scripted=[hello],
            expected=[hello.expected, bye],
            answers=["Hello, how can I help?", "Goodbye!"],
        ),
        PlannedScenario(
            name="query_engine_tool",
            tasks=[asked.task],
            scripted=[asked, inner],
            expected=[asked.expected],
            answers=[geo_answer],
        ),
    ]


def plan() -> list[PlannedScenario]:
    """Every LlamaIndex scenario, fresh markers each call."""
    max_steps = S.scenario(
        FRAMEWORK,
        "max",
        "Loop forever.",
        [call_tool("add", S.ADD_ARGS)] * 3,
        status="max_steps",
        final_answer=None,
        tools=[S.ToolExpectation("add", S.ADD_ARGS, S.ADD_RESULT)],
        error=STEP_LIMIT_ERROR,
        llm_steps_at_least=2,
    )
    concurrent = [S.success(FRAMEWORK) for _ in range(2)]
    nested = S.nested(FRAMEWORK, delegate_tool="ask_child", question_arg="question")
    nested_runs = list(nested.expected)
    chain = shapes.nested_deep(FRAMEWORK, ("ask_middle", "ask_bottom"), "question")
    handoff = S.scenario(
        FRAMEWORK,
        "handoff",
        "Research, then write.",
        [call_tool("handoff", HANDOFF_ARGS), answer(HANDOFF_ANSWER)],
        status="completed",
        final_answer=HANDOFF_ANSWER,
        tools=[S.ToolExpectation("handoff", HANDOFF_ARGS, HANDOFF_RESULT)],
        agent_name="AgentWorkflow",
        llm_steps_at_least=2,
    )
    react_answer = "It is sunny in Paris."
    react = S.scenario(
        FRAMEWORK,
        "react",
        "What is the weather in Paris?",
        [
            answer(
                'Thought: I need the weather.\nAction: get_weather\nAction Input: {"city": "Paris"}'
            ),
            answer(f"Thought: I can answer without using any more tools.\nAnswer: {react_answer}"),
        ],
        status="completed",
        final_answer=react_answer,
        tools=[S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)],
        agent_name="react_agent",
        llm_steps_at_least=2,
    )
    direct = S.scenario(
        FRAMEWORK,
        "direct",
        "What is the weather in Paris?",
        [call_tool("get_weather", S.WEATHER_ARGS)],
        status="completed",
        final_answer=S.WEATHER_RESULT,
        tools=[S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)],
    )
    return [
        *_engines(),
        _single("return_direct", direct),
        _single("react", react),
        _single("handoff", handoff),
        _single("success", S.success(FRAMEWORK)),
        _single("parallel_tools", shapes.parallel_tools(FRAMEWORK)),
        conversation_plan(shapes.multi_turn(FRAMEWORK), MODEL_NAME),
        _single("tool_error_recovers", S.recovery(FRAMEWORK)),
        _single("fails", S.model_failure(FRAMEWORK)),
        _single("empty_answer", S.empty_answer(FRAMEWORK)),
        _cancelled(),
        _single("max_steps", max_steps),
        concurrent_plan(concurrent, [s.expected for s in concurrent]),
        nested_plan(nested, nested_runs),
        PlannedScenario(
            name="nested_deep",
            tasks=[chain.top.task],
            scripted=[chain.top, chain.middle, chain.bottom],
            expected=chain.expected,
            answers=[shapes.TOP_ANSWER],
        ),
    ]
