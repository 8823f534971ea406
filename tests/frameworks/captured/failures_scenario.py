"""Failure shapes every failures capture runs (capture_failures.py), each a conversation of
its own:

- ``exhausted``: one weather call, then the model server answers HTTP 500 to every attempt,
  the client's own retries (``max_retries=2``) included: the run fails on that model call;
- ``throttled``: the first model call is answered HTTP 429 (rate limited) once, retried by
  the client or by the framework's own retry, then a weather call and the answer: the run
  completes;
- per framework, a limit or a validation the framework enforces (a token budget, an output
  or tool that keeps failing validation, an answer cut at the model's token limit);
- for the frameworks of capture_failures_more.py (:func:`script_more`): ``raises``, a tool
  that raises, the model told and answering; ``step_limit``, a model that asks for the
  weather at every turn until the framework's own step or iteration limit stops the run.

Shared by the capture scripts; no framework imported."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.scripted_llm import ScriptedLLM, Turn, answer, call_tool, fail

CITY = {"city": "Paris"}
WEATHER = "Sunny, 21 C in Paris"
ANSWER = "It is sunny in Paris."
SERVER_ERROR = "the model server crashed"
RATE_LIMITED = "rate limit reached, retry later"
# What a tool guardrail tells the model instead of running the tool, and what it answers.
GUARDED = "Weather lookups for Paris are blocked."
REFUSED_ANSWER = "I may not look up the weather in Paris."
# What a tool output guardrail tells the model instead of the tool's result, and the answer.
WITHHELD = "Forecasts may not be shared."
WITHHELD_ANSWER = "I may not share the forecast for Paris."
# What a manager answers once the agent it asked stopped at its turn limit.
CHILD_GAVE_UP = "The forecaster could not finish."
# The weather call's tokens, so a run's totals tell which calls it counted.
CALL_TOKENS = {"input_tokens": 90, "output_tokens": 7}
# What the raising tool raises, and what the model answers once told.
ALERTS_DOWN = "the alert service is down"
ALERTS_ANSWER = "The alerts for Paris are unavailable."
# The answer a framework asks for at its step limit (CrewAI's best final answer).
LIMIT_ANSWER = "It was sunny in Paris each time."


class Tools:
    """The tool of the failure shapes: ``get_weather`` answers and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def get_weather(self, city: str) -> str:
        """The current weather in a city."""
        self.calls += 1
        return WEATHER.replace("Paris", city)

    def check_alerts(self, city: str) -> str:
        """The weather alerts in a city."""
        raise RuntimeError(f"{ALERTS_DOWN} ({city})")


def script(
    llm: ScriptedLLM, marker: str, *, final: Any = None, tool: Callable[[str], str] = str
) -> dict[str, str]:
    """Script the shared failure conversations under ``marker``: their task by shape.
    ``final(text)`` makes the turn that answers ``text`` (smolagents answers through a tool);
    ``tool(name)`` the name the model calls a tool by (Semantic Kernel's ``{plugin}-{name}``)."""
    ending = final or answer
    tasks = {
        "exhausted": f"{marker}-exhausted What is the weather in Paris?",
        "throttled": f"{marker}-throttled What is the weather in Paris, when the model can?",
    }
    llm.script(
        tasks["exhausted"],
        [call_tool(tool("get_weather"), CITY, **CALL_TOKENS)],
        then_repeat=fail(500, SERVER_ERROR),
    )
    llm.script(
        tasks["throttled"],
        [
            fail(429, RATE_LIMITED),
            call_tool(tool("get_weather"), CITY, **CALL_TOKENS),
            ending(ANSWER),
        ],  # fmt: skip
    )
    return tasks


def weather_turns(count: int) -> list[Turn]:
    """``count`` model turns each asking for the weather (a run that keeps calling)."""
    return [call_tool("get_weather", CITY, **CALL_TOKENS) for _ in range(count)]


def script_more(
    llm: ScriptedLLM,
    marker: str,
    *,
    final: Any = None,
    answer_after: int | None = None,
    tool: Callable[[str], str] = str,
) -> dict[str, str]:
    """Script ``raises`` and ``step_limit`` under ``marker``: their task by shape. A framework
    that asks the model for a last answer at its limit (CrewAI) gets one after
    ``answer_after`` weather calls; otherwise the model asks for the weather every turn."""
    ending = final or answer
    tasks = {
        "raises": f"{marker}-raises Are there weather alerts in Paris?",
        "step_limit": f"{marker}-step-limit Keep checking the weather in Paris.",
    }
    llm.script(tasks["raises"], [call_tool(tool("check_alerts"), CITY, **CALL_TOKENS),
                                 ending(ALERTS_ANSWER)])  # fmt: skip
    asking = call_tool(tool("get_weather"), CITY, **CALL_TOKENS)
    if answer_after is None:
        llm.script(tasks["step_limit"], [], then_repeat=asking)
    else:
        llm.script(tasks["step_limit"], [asking] * answer_after + [ending(LIMIT_ANSWER)])
    return tasks
