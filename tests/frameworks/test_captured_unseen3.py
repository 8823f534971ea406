"""Agent frameworks first met as an outside user would run them, as they really traced
their agents (``captured/capture_<name>.py``, which say the versions): the spans are sent
over the wire to a real collector and every run and step is read against what the
framework itself returned (``<name>.expected.json``, written by the same capture) and what
its own console log tells."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import CollectorHandle
from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured_runs import capture_runs, expected_of, run_steps


def _tools(steps: list[tuple[Any, ...]]) -> list[tuple[str, Any, str | None, bool]]:
    """The tool steps as (name, arguments, result, failed)."""
    return [(s[1], json.loads(s[2]), s[3], s[4] == "error") for s in steps if s[0] == "tool_call"]


@pytest.mark.parametrize("mode", ["native", "openinference"])
def test_ag2_chats_read_as_its_log(module_collector: CollectorHandle, mode: str) -> None:
    """AG2 0.x (``autogen``): a chat between an assistant and the ``UserProxyAgent``
    running its tools is one run, as AG2's log reads: the opening message its task, the
    chat's last message its answer (``ChatResult.summary``), each model call and each
    tool call a step in order, whichever agent's reply made them; the tool that raised a
    failed step whose result is what AG2 told the model; the failing model fails the chat;
    a chat its ``max_turns`` cut off mid-work is ``max_steps`` (OpenInference's spans record
    no limit: told by the last reply asking for a tool no one ran); a chat opened in a tool is
    a child run; a group chat's hand-off a tool step of the
    one run."""
    name = f"ag2_{mode}"
    expected = expected_of(name)
    runs = capture_runs(module_collector, name, 6)
    # AG2's own spans name the model asked for; OpenInference's OpenAI spans in their
    # invocation parameters.
    requested = "scripted-ag2"

    done = expected["success"]
    run = runs[done["task"]]
    # The chat is named after the agent that opened it (AG2's ``conversation {agent}``).
    assert run[1:8] == ("user_proxy", "completed", done["task"], done["answer"], None, None, 7)
    # Its model calls' tokens, as ChatResult.cost counted them.
    assert run[8:12] == (done["input_tokens"], done["output_tokens"], requested,
                         done["served_model"])  # fmt: skip
    steps = run_steps(module_collector, run[0])
    assert [s[0] for s in steps] == ["think", "tool_call"] * 3 + ["think"]
    assert sum(1 for s in steps if s[0] == "think") == done["model_calls"]
    assert [s[7] for s in steps if s[0] == "think"] == [100, 110, 120, 130]
    assert _tools(steps) == [(t["name"], t["args"], t["result"], t["error"]) for t in done["tools"]]
    # AG2's own span names only the error's type; its result is what AG2 sent the model
    # (read from the next model call). OpenInference records that text as the output.
    assert steps[1][5] == ("ExecutionError" if mode == "native" else f"Error: {S.WEATHER_ERROR}")

    fails = expected["fails"]
    run = runs[fails["task"]]
    assert run[1:5] == ("user_proxy", "failed", fails["task"], None)
    assert S.MODEL_ERROR in run[5] and S.MODEL_ERROR in fails["raised"]
    assert [(s[0], s[4]) for s in run_steps(module_collector, run[0])] == [("think", "error")]

    limit = expected["limit"]
    run = runs[limit["task"]]
    # AG2 logs "Maximum turns (2) reached" with the assistant still asking for a tool; its
    # summary is empty. Only AG2's own spans record the limit; OpenInference's show the
    # chat ending on a reply that asks for a tool no one ran, which only a turn limit does.
    assert limit["summary"] == "" and "result" not in limit["tools"][-1]
    if mode == "native":
        assert run[1:6] == ("user_proxy", "max_steps", limit["task"], None,
                            f"Maximum turns ({limit['max_turns']}) reached")  # fmt: skip
    else:
        assert run[1:6] == ("user_proxy", "max_steps", limit["task"], None,
                            "Turn limit reached with a tool call under way")  # fmt: skip
    steps = run_steps(module_collector, run[0])
    assert [s[0] for s in steps] == ["think", "tool_call", "think"]
    assert sum(1 for s in steps if s[0] == "think") == limit["model_calls"]

    sub = expected["sub_agent"]
    parent, child = runs[sub["task"]], runs[sub["sub_task"]]
    assert parent[1:7] == ("user_proxy", "completed", sub["task"], sub["answer"], None, None)
    steps = run_steps(module_collector, parent[0])
    assert [s[0] for s in steps] == ["think", "tool_call", "think"]
    assert _tools(steps) == [(t["name"], t["args"], t["result"], False) for t in sub["tools"]]
    # The parent's tokens are its own two calls; the child's calls are the child's.
    assert parent[8:10] == (240, 60)
    assert child[1:7] == ("user_proxy", "completed", sub["sub_task"], sub["tools"][0]["result"],
                          None, parent[0])  # fmt: skip
    assert [s[0] for s in run_steps(module_collector, child[0])] == ["think", "tool_call", "think"]

    group = expected["group"]
    run = runs[group["task"]]
    assert group["last_speaker"] == "converter"
    # The group chat is opened by the user agent; the agents' turns are no runs of their own.
    assert run[1:7] == ("user", "completed", group["task"], group["answer"], None, None)
    assert run[8:10] == (180, 18)
    steps = run_steps(module_collector, run[0])
    assert [s[0] for s in steps] == ["think", "tool_call", "think", "tool_call", "think"]
    assert sum(1 for s in steps if s[0] == "think") == group["model_calls"]
    handoff, convert = _tools(steps)
    assert convert == ("to_fahrenheit", {"celsius": 18}, "64.4", False)
    # AG2's log shows "Transfer to converter"; OpenInference records the function's return
    # value, the target it names.
    assert handoff[:2] == ("transfer_to_converter_1", {})
    assert handoff[2] in (group["tools"][0]["result"], json.dumps({"agent_name": "converter"}))


def test_ag2_agent_asks_read_as_it_returned(module_collector: CollectorHandle) -> None:
    """AG2 1.x's ``Agent`` with its ``TelemetryMiddleware``: the same scope name as AG2
    0.x's tracing, but its ``invoke_agent`` is a whole ``Agent.ask``, so each is a run (an
    agent behind ``as_tool`` a child run, not a turn of its caller); the conventions read
    the rest. Its ``record_usage`` spans (one per call, and a sub-agent's roll-up) count
    no token twice."""
    expected = expected_of("ag2_agent")
    runs = capture_runs(module_collector, "ag2_agent", 4)
    served = "scripted-ag2-agent-served"
    done = expected["success"]
    run = runs[done["task"]]
    assert run[1:8] == ("weather", "completed", done["task"], done["answer"], None, None, 7)
    assert run[8:12] == (done["input_tokens"], done["output_tokens"], "scripted-ag2-agent",
                         served)  # fmt: skip
    steps = run_steps(module_collector, run[0])
    assert [s[0] for s in steps] == ["think", "tool_call"] * 3 + ["think"]
    assert sum(1 for s in steps if s[0] == "think") == done["model_calls"]
    # The raising tool records the exception, no result.
    assert _tools(steps) == [
        ("get_weather", {"city": "Paris"}, None, True),
        ("get_weather", {"city": "Paris"}, json.dumps(dict(S.WEATHER, city="Paris")), False),
        ("to_fahrenheit", {"celsius": 18}, "64.4", False),
    ]
    assert steps[1][5] == S.WEATHER_ERROR

    fails = expected["fails"]
    run = runs[fails["task"]]
    assert run[1:6] == ("weather", "failed", fails["task"], None, fails["raised"])
    assert [(s[0], s[4]) for s in run_steps(module_collector, run[0])] == [("think", "error")]

    sub = expected["sub_agent"]
    parent, child = runs[sub["task"]], runs[sub["sub_task"]]
    assert parent[1:7] == ("manager", "completed", sub["task"], sub["answer"], None, None)
    steps = run_steps(module_collector, parent[0])
    assert [s[0] for s in steps] == ["think", "tool_call", "think"]
    assert _tools(steps) == [("converter", {"objective": sub["sub_task"]}, "64.4F", False)]
    # AG2's usage report adds the sub-agent's tokens to the manager's; each run counts its own.
    assert (parent[8] + child[8], parent[9] + child[9]) == (sub["input_tokens"],
                                                            sub["output_tokens"])  # fmt: skip
    assert child[1:7] == ("converter", "completed", sub["sub_task"], "64.4F", None, parent[0])
    child_steps = run_steps(module_collector, child[0])
    assert [s[0] for s in child_steps] == ["think", "tool_call", "think"]
    assert sum(1 for s in child_steps if s[0] == "think") == sub["sub_model_calls"]


def test_langgraph_js_agents_read_as_they_returned(module_collector: CollectorHandle) -> None:
    """LangChain.js ``createAgent`` (a LangGraph.js graph) traced by OpenInference's JS
    instrumentation: read as the Python one is (the agent's graph span the run, task and
    answer from its state, tool arguments from the ``tools`` node, a raising tool's result
    the error message that node sent the model), the served model from
    the answer's ``response_metadata``, and an error as Node names it (``Error: ...``, the
    stack cut off); an agent invoked in a tool a child run."""
    expected = expected_of("langgraph_js")
    runs = capture_runs(module_collector, "langgraph_js", 4)
    requested, served = "scripted-langgraph-js", "scripted-langgraph-js-served"
    done = expected["success"]
    run = runs[done["task"]]
    assert run[1:8] == ("weather_agent", "completed", done["task"], done["answer"], None, None, 7)
    assert run[8:12] == (done["input_tokens"], done["output_tokens"], requested, served)
    steps = run_steps(module_collector, run[0])
    assert [s[0] for s in steps] == ["think", "tool_call"] * 3 + ["think"]
    assert [s[6] for s in steps if s[0] == "think"] == [served] * done["model_calls"]
    raised, *returned = done["tools"]
    # The raising tool's span records no output; its result is what the tools node told
    # the model (its ToolMessage, status "error").
    assert raised["error"] and raised["result"].startswith(f"Error: {S.WEATHER_ERROR}")
    assert _tools(steps) == [
        ("get_weather", raised["args"], raised["result"], True),
        *((t["name"], t["args"], t["result"], False) for t in returned),
    ]
    assert steps[1][5] == f"Error: {S.WEATHER_ERROR}"

    fails = expected["fails"]
    run = runs[fails["task"]]
    assert S.MODEL_ERROR in fails["raised"]
    assert run[1:6] == ("weather_agent", "failed", fails["task"], None, fails["raised"])
    steps = run_steps(module_collector, run[0])
    assert [(s[0], s[4], s[5]) for s in steps] == [("think", "error", fails["raised"])]

    sub = expected["sub_agent"]
    parent, child = runs[sub["task"]], runs[sub["sub_task"]]
    assert parent[1:7] == ("manager", "completed", sub["task"], sub["answer"], None, None)
    steps = run_steps(module_collector, parent[0])
    assert [s[0] for s in steps] == ["think", "tool_call", "think"]
    assert _tools(steps) == [(t["name"], t["args"], t["result"], False) for t in sub["tools"]]
    assert parent[8:10] == (sub["input_tokens"], sub["output_tokens"])
    assert child[1:7] == ("converter", "completed", sub["sub_task"], sub["tools"][0]["result"],
                          None, parent[0])  # fmt: skip
    assert [s[0] for s in run_steps(module_collector, child[0])] == ["think", "tool_call", "think"]
