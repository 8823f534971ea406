"""Shapes of ordinary use every framework plays beside scenario.py's and scenario_shapes.py's:
a tool with no arguments, a model turn that says something and calls a tool, runs of one
agent at once that mix success, recovery and failure, and a run inside the caller's own span.

Each scenario module exposes them as ``no_argument_tool``, ``text_with_tool_call``,
``mixed_at_once`` and ``outer_span`` (collector_run.py runs whichever a framework has), so
the same field-by-field checks apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace

from tests.frameworks import scenario as S
from tests.frameworks import scenario_shapes as shapes
from tests.scripted_llm import Turn, call_tool, fail

CLOCK_RESULT = "12:00 UTC"
CLOCK_ANSWER = "It is noon (12:00 UTC)."
LOOKING = "Let me look that up first."
LOOKED_ANSWER = "Looked it up: sunny in Paris."
# The span a caller's own code opens around a run (a web request, a job).
OUTER_SPAN = "handle_request"


def clock_impl() -> str:
    """The no-argument tool every framework gets: the time."""
    return CLOCK_RESULT


def no_argument_tool(fw: S.Framework) -> S.Scenario:
    """The model calls ``clock`` with no arguments: its step's arguments are ``{}``."""
    return S.scenario(
        fw,
        "noargs",
        "What time is it?",
        [call_tool("clock", {}), fw.final_turn(CLOCK_ANSWER)],
        status="completed",
        final_answer=CLOCK_ANSWER,
        tools=[S.ToolExpectation("clock", {}, CLOCK_RESULT)],
        response=fw.response(CLOCK_ANSWER),
        llm_steps_at_least=2,
    )


def text_with_tool_call(fw: S.Framework) -> S.Scenario:
    """The model's first turn says something and calls a tool in the same message: that text
    is no answer (the run goes on); the answer is the last turn's."""
    return S.scenario(
        fw,
        "saycall",
        "Look up the weather in Paris.",
        [
            Turn(content=LOOKING, tool_calls=call_tool("get_weather", S.WEATHER_ARGS).tool_calls),
            fw.final_turn(LOOKED_ANSWER),
        ],
        status="completed",
        final_answer=LOOKED_ANSWER,
        tools=[S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)],
        response=fw.response(LOOKED_ANSWER),
        llm_steps_at_least=2,
    )


def mixed_at_once(fw: S.Framework, tool_error: str = S.FLAKY_ERROR) -> list[S.Scenario]:
    """Four runs of one agent to play at once: two tools in one turn, a tool failing then the
    model recovering, the model server failing, and a plain success. Each run keeps its own
    steps, errors and answer."""
    return [
        shapes.parallel_tools(fw),
        S.recovery(fw, tool_error=tool_error),
        S.model_failure(fw),
        S.success(fw),
    ]


def expect_outcome(scenario: S.Scenario, outcome: object) -> S.RunExpectation:
    """Check what one of :func:`mixed_at_once`'s runs returned (its answer, or the exception
    it raised, which ``asyncio.gather(..., return_exceptions=True)`` hands back)."""
    if scenario.expected.status == "failed":
        assert isinstance(outcome, BaseException), outcome
        assert scenario.expected.error and scenario.expected.error in str(outcome), outcome
        return scenario.expected
    assert not isinstance(outcome, BaseException), outcome
    return scenario.expect_answer(outcome)


@contextmanager
def outer_span() -> Iterator[None]:
    """The caller's own span around a run (as a web framework's instrumentation opens one per
    request): the run stays a top-level run, the span no run of its own."""
    tracer = trace.get_tracer("tests.frameworks.caller")
    with tracer.start_as_current_span(OUTER_SPAN, attributes={"http.route": "/ask"}):
        yield


RETRIED_ANSWER = "Sunny in Paris, once the model could answer."
OVERLOADED = "the model is overloaded, try again"


def model_retried(fw: S.Framework) -> S.Scenario:
    """The first model call is answered 503 once and tried again (by the client, or by the
    framework's own retry): the run completes with its tool call and answer; an attempt the
    framework traced as a failed model call is a ``think`` step with its error, never the
    run's error."""
    return S.scenario(
        fw,
        "retried",
        "What is the weather in Paris? (the model may be busy)",
        [
            fail(503, OVERLOADED),
            call_tool("get_weather", S.WEATHER_ARGS),
            fw.final_turn(RETRIED_ANSWER),
        ],
        status="completed",
        final_answer=RETRIED_ANSWER,
        tools=[S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)],
        response=fw.response(RETRIED_ANSWER),
        llm_steps_at_least=2,
    )
