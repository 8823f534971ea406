"""Edge shapes for the frameworks captured by capture_edges_more.py: those of
edges_scenario.py (a refusal, a content filter, 50 tool calls, hostile text, a run cancelled
in a tool; the same texts and turns) and two more, each a conversation of its own:

- ``raises``: a tool raises; the model reads the error and answers;
- ``http_500``: the model endpoint answers every call with HTTP 500.

Shared by the capture scripts; no framework imported."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from tests.frameworks.captured import edges_scenario as E
from tests.scripted_llm import ScriptedLLM, Turn, answer, call_tool, fail

RAISED = "the vault is sealed"
RAISES_ANSWER = "The vault could not be opened."
SERVER_ERROR = "scripted outage"
MODEL = "scripted-edges"  # the name each framework asks the scripted model by
Outcome = dict[str, Any]


class Tools(E.Tools):
    """The edge tools plus ``open_vault``, which always raises."""

    def open_vault(self, code: str) -> str:
        """Open the vault with a code."""
        raise RuntimeError(f"{RAISED} (code {code})")


def script(
    llm: ScriptedLLM, marker: str, *, final: Any = None, tool: Callable[[str], str] = str
) -> dict[str, str]:
    """Script every shape under ``marker``; its task by shape. ``final(text)`` makes the turn
    that answers ``text``; ``tool(name)`` the name the model calls a tool by (Semantic
    Kernel's ``{plugin}-{function}``)."""
    ending = final or answer
    tasks = {
        "refusal": f"{marker}-refusal Tell me how to pick a lock.",
        "content_filter": f"{marker}-filter Write something the filter stops.",
        "long": f"{marker}-long Count {E.LONG_CALLS} ticks, one at a time.",
        "hostile": f"{marker}-hostile Look up the odd query.",
        "cancelled": f"{marker}-cancelled Wait for the slow service.",
        "raises": f"{marker}-raises Open the vault.",
        "http_500": f"{marker}-http500 Say hello.",
    }
    # Asked again (a framework may retry or ask until its step limit), the model declines again.
    refused = Turn(refusal=E.REFUSAL, input_tokens=50, output_tokens=8)
    llm.script(tasks["refusal"], [refused], then_repeat=refused)
    filtered = Turn(content=None, finish_reason="content_filter", input_tokens=60, output_tokens=0)
    llm.script(tasks["content_filter"], [filtered], then_repeat=filtered)
    ticks = [
        call_tool(tool("tick"), {"n": n}, input_tokens=100 + n, output_tokens=5)
        for n in range(1, E.LONG_CALLS + 1)
    ]
    llm.script(tasks["long"], [*ticks, ending(E.LONG_ANSWER)])
    llm.script(
        tasks["hostile"],
        [
            call_tool(tool("lookup"), {"query": E.HOSTILE}, input_tokens=70),
            ending(E.HOSTILE_ANSWER),
        ],  # fmt: skip
    )
    llm.script(tasks["cancelled"], [call_tool(tool("wait_forever"), {"seconds": 5})])
    llm.script(
        tasks["raises"],
        [
            call_tool(tool("open_vault"), {"code": "1234"}, input_tokens=40),
            ending(RAISES_ANSWER),
        ],  # fmt: skip
    )
    broken = fail(500, SERVER_ERROR)
    llm.script(tasks["http_500"], [broken], then_repeat=broken)
    return tasks


def outcome(task: str, run: Callable[[], Any]) -> Outcome:
    """What the caller saw: the answer, or what was raised."""
    try:
        found = run()
        if inspect.isawaitable(found):
            found = asyncio.run(_awaited(found))
        return {"task": task, "answer": found, "raised": None}
    except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
        return {"task": task, "answer": None, "raised": f"{type(exc).__name__}: {exc}"}


async def _awaited(found: Awaitable[Any]) -> Any:
    return await found


def outcomes(tasks: dict[str, str], ask: Callable[[str], Any]) -> dict[str, Outcome]:
    """What the caller saw of each shape but ``cancelled``, asked in turn by ``ask(task)``."""
    return {
        shape: outcome(task, lambda t=task: ask(t))
        for shape, task in tasks.items()
        if shape != "cancelled"
    }
