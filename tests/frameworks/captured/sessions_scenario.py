"""Conversation shapes the sessions captures run (capture_sessions.py), each a conversation
of its own but the session's two runs:

- ``greeting`` then ``followup``: two runs of one agent in one session, the second carrying
  the first's history. The first answers at once, in Japanese with emoji, no tool; the
  second (a question in German) calls a tool whose result is a structured value and
  answers. The second run's task is its own question, not the first's;
- ``parallel``: two tool calls in one model turn, one of them raising; the model answers
  with what it got;
- ``results``: tools answering an empty string, a list of records and a very long text, one
  a turn, then the answer;
- ``structured``: the answer is a JSON object the framework parses into its result type;
- ``nested``: a tool that runs another agent, whose run is the outer run's child;
- ``history``: a run given an earlier exchange as messages (a user question, the model's
  answer) before its own question, which is the run's task; answered without a tool;
- ``streamed``: a streamed run (each framework's streaming call) with a tool call and an
  answer, on its async entry point where it has one;
- ``bad_args``: the model calls a tool with an argument it does not take (its required one
  missing), is told, and calls it right;
- ``unknown_tool``: the model calls a tool the agent does not have, is told, and calls the
  right one;
- ``bad_structured``: a structured answer that is no JSON, then (asked again) a valid one.

Shared by the capture scripts; no framework imported."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

# The drivers call S.outcome: what the caller saw, as the edges captures read it.
from tests.frameworks.captured.edges_more_scenario import outcome as outcome
from tests.scripted_llm import ScriptedLLM, ToolCall, Turn, answer, call_tool

MODEL = "scripted-sessions"
GREETING_ANSWER = "こんにちは！👋 Schön, dass du da bist."
FOLLOWUP = "Und wie ist das Wetter in Zürich? 🌦"
ZURICH = {"city": "Zürich", "celsius": -2, "sky": "❄ Schnee", "alerts": []}
FOLLOWUP_ANSWER = "In Zürich schneit es ❄ bei -2 °C."
MISSING_CITY = "Atlantis"
NO_CITY = f"no such city: {MISSING_CITY}"
PARALLEL_ANSWER = "Paris: sunny. Atlantis: not found."
LISTING = [{"name": "a.txt", "bytes": 3}, {"name": "b.txt", "bytes": 0}]
LONG_LINES = 800
LONG_TEXT = "\n".join(f"line {n:04d}: " + "x" * 40 for n in range(LONG_LINES))
RESULTS_ANSWER = "Nothing, two files, and a long log."
STRUCTURED = {"city": "Paris", "celsius": 18}
EARLIER_ANSWER = "Paris is the capital of France."
HISTORY_QUESTION = "Et quelle est sa population ? 🇫🇷"
HISTORY_ANSWER = "Environ 2,1 millions d'habitants."
STREAMED_ANSWER = "Streamed: sunny in Oslo."
RETRIED_ANSWER = "After a retry: sunny in Paris."
UNKNOWN_TOOL = "get_wether"
NOT_JSON = "Paris, 18 degrees (no JSON, sorry)"
CHILD_QUESTION = "What is the capital of Peru? (child)"
CHILD_ANSWER = "Lima."
NESTED_ANSWER = "The child says: Lima."
Outcome = dict[str, Any]


class Tools:
    """The tools of the shapes. ``get_weather`` raises for Atlantis; the others answer odd
    values. Each call is noted (name and arguments), in the order they ran."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[dict[str, Any]] = []

    def _note(self, tool: str, **args: Any) -> None:
        with self._lock:
            self.calls.append({"name": tool, "args": args})

    def get_weather(self, city: str) -> dict[str, Any]:
        """The current weather in a city."""
        self._note("get_weather", city=city)
        if city == MISSING_CITY:
            raise ValueError(NO_CITY)
        if city == "Zürich":
            return dict(ZURICH)
        return {"city": city, "celsius": 18, "sky": "sunny"}

    def nothing(self, key: str) -> str:
        """Read a key that holds nothing."""
        self._note("nothing", key=key)
        return ""

    def list_files(self, folder: str) -> list[dict[str, Any]]:
        """List the files of a folder."""
        self._note("list_files", folder=folder)
        return [dict(f) for f in LISTING]

    def read_log(self, name: str) -> str:
        """Read a long log."""
        self._note("read_log", name=name)
        return LONG_TEXT


def tasks_of(marker: str) -> dict[str, str]:
    """Each shape's task under ``marker``; ``followup`` is the session's second question."""
    return {
        "greeting": f"{marker}-session Begrüße mich auf Japanisch. 🙂",
        "followup": FOLLOWUP,
        "parallel": f"{marker}-parallel Weather in Paris and in {MISSING_CITY}?",
        "results": f"{marker}-results Read the key, the folder and the log.",
        "structured": f"{marker}-structured The weather in Paris, as a record.",
        "nested": f"{marker}-nested Ask the child for the capital of Peru.",
        "child": f"{marker}-child {CHILD_QUESTION}",
        "earlier": f"{marker}-history What is the capital of France?",
        "history": HISTORY_QUESTION,
        "streamed": f"{marker}-streamed The weather in Oslo, streamed.",
        "bad_args": f"{marker}-badargs The weather in Paris, asked wrong first.",
        "unknown_tool": f"{marker}-unknown The weather in Paris, misnamed first.",
        "bad_structured": f"{marker}-badrecord The weather in Paris, as a record at last.",
    }


def script(
    llm: ScriptedLLM,
    marker: str,
    *,
    final: Callable[[str], Turn] = answer,
    tool: Callable[[str], str] = str,
    child_tool: str = "ask_child",
    child_arg: str = "question",
) -> dict[str, str]:
    """Script every shape under ``marker``; its task by shape. ``final(text)`` makes the
    turn that answers ``text``; ``tool(name)`` the name the model calls a tool by;
    ``child_tool`` the nested agent's tool name and ``child_arg`` its argument. A structured
    answer is given again when asked again (a framework may ask once more to parse it)."""
    tasks = tasks_of(marker)
    # The session's second run opens with the first's messages: both under its marker.
    llm.script(
        tasks["greeting"],
        [
            final(GREETING_ANSWER),
            call_tool(tool("get_weather"), {"city": "Zürich"}, input_tokens=200, output_tokens=9),
            final(FOLLOWUP_ANSWER),
        ],
    )
    both = Turn(
        tool_calls=(
            ToolCall(tool("get_weather"), {"city": "Paris"}),
            ToolCall(tool("get_weather"), {"city": MISSING_CITY}),
        ),
        input_tokens=80,
        output_tokens=14,
    )
    llm.script(tasks["parallel"], [both, final(PARALLEL_ANSWER)])
    llm.script(
        tasks["results"],
        [
            call_tool(tool("nothing"), {"key": "empty"}, input_tokens=61, output_tokens=4),
            call_tool(tool("list_files"), {"folder": "/tmp/x"}, input_tokens=62, output_tokens=4),
            call_tool(tool("read_log"), {"name": "big"}, input_tokens=63, output_tokens=4),
            final(RESULTS_ANSWER),
        ],
    )
    record = answer(json.dumps(STRUCTURED), input_tokens=55)
    llm.script(tasks["structured"], [record], then_repeat=record)
    llm.script(
        tasks["nested"],
        [
            call_tool(child_tool, {child_arg: tasks["child"]}, input_tokens=70),
            final(NESTED_ANSWER),
        ],
    )
    llm.script(tasks["child"], [final(CHILD_ANSWER)])
    llm.script(tasks["earlier"], [final(HISTORY_ANSWER)])
    llm.script(
        tasks["streamed"],
        [
            call_tool(tool("get_weather"), {"city": "Oslo"}, input_tokens=90, output_tokens=8),
            final(STREAMED_ANSWER),
        ],
    )
    for shape, wrong in (
        ("bad_args", call_tool(tool("get_weather"), {"town": "Paris"}, input_tokens=71)),
        ("unknown_tool", call_tool(tool(UNKNOWN_TOOL), {"city": "Paris"}, input_tokens=72)),
    ):
        right = call_tool(tool("get_weather"), {"city": "Paris"}, input_tokens=81)
        llm.script(tasks[shape], [wrong, right, final(RETRIED_ANSWER)])
    llm.script(tasks["bad_structured"], [answer(NOT_JSON, input_tokens=56)], then_repeat=record)
    # A framework converting the text with a model call of its own sends the text as its task.
    llm.script(NOT_JSON, [record], then_repeat=record)
    return tasks
