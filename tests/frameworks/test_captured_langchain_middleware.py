"""LangChain's ``create_agent`` (v1) with its built-in middleware, traced by OpenInference, as
it really traced the shared agent (``captured/capture_langchain_middleware.py``, which says
the versions): the spans go over the wire to a real collector and every run and step is
read against what each ``invoke`` returned or raised
(``langchain_middleware.expected.json``)."""

from __future__ import annotations

import json

from tests.conftest import CollectorHandle
from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured_runs import capture_runs, expected_of, run_steps

SERVED = "scripted-middleware-served"


def test_middleware_limits_and_fallbacks_read_as_the_agent_ran(
    module_collector: CollectorHandle,
) -> None:
    """A run the model call limit ended is ``max_steps`` with the middleware's message as
    its error and no answer (the message is no model's), whether the middleware ended the
    run or raised; a tool call the tool call limit refused is a failed tool step with the
    refusal (no tool span: the tool never ran) and the run goes on; a model that failed
    before the fallback model answered is a failed step of a completed run."""
    expected = expected_of("langchain_middleware")
    runs = capture_runs(module_collector, "langchain_middleware", 4)
    limit = expected["model_limit"]
    weather = json.dumps(dict(S.WEATHER, city="Paris"))

    ended = expected["limit_end"]
    assert ended["answer"] == f"Model call limits exceeded: run limit ({limit}/{limit})"
    assert ended["model_calls"] == limit
    run = runs[ended["task"]]
    assert run[1:8] == ("weather_agent", "max_steps", ended["task"], None, ended["answer"],
                        None, 2 * limit)  # fmt: skip
    steps = run_steps(module_collector, run[0])
    assert [(s[0], s[1], s[3]) for s in steps] == [
        ("think", None, None),
        ("tool_call", "get_weather", weather),
    ] * limit

    raised = expected["limit_error"]
    assert raised["raised"] == f"ModelCallLimitExceededError: {ended['answer']}"
    run = runs[raised["task"]]
    assert run[1:6] == ("weather_agent", "max_steps", raised["task"], None, raised["raised"])
    assert [s[0] for s in run_steps(module_collector, run[0])] == ["think", "tool_call"] * limit

    refused = expected["tool_limit"]
    (ran, blocked) = refused["tools"]
    assert blocked["error"] and not ran["error"]
    run = runs[refused["task"]]
    assert run[1:8] == ("weather_agent", "completed", refused["task"], refused["answer"], None,
                        None, 5)  # fmt: skip
    steps = run_steps(module_collector, run[0])
    assert [(s[0], s[1], json.loads(s[2]) if s[2] else None, s[3], s[4], s[5]) for s in steps] == [
        ("think", None, None, None, "ok", None),
        ("tool_call", "get_weather", {"city": "Paris"}, ran["result"], "ok", None),
        ("think", None, None, None, "ok", None),
        ("tool_call", "get_weather", {"city": "Rome"}, None, "error", blocked["result"]),
        ("think", None, None, None, "ok", None),
    ]
    assert refused["model_calls"] == 3

    fallback = expected["fallback"]
    assert fallback["models"] == ["scripted-middleware-fallback-served", SERVED, SERVED]
    run = runs[fallback["task"]]
    assert run[1:8] == ("weather_agent", "completed", fallback["task"], fallback["answer"],
                        None, None, 6)  # fmt: skip
    steps = run_steps(module_collector, run[0])
    assert [(s[0], s[4], s[6]) for s in steps if s[0] == "think"] == [
        ("think", "error", "scripted-middleware"),
        ("think", "ok", fallback["models"][0]),
        ("think", "ok", SERVED),
        ("think", "ok", SERVED),
    ]
    assert S.MODEL_ERROR in steps[0][5]
    assert [(t["name"], t["result"]) for t in fallback["tools"]] == [
        (s[1], s[3]) for s in steps if s[0] == "tool_call"
    ]
    assert fallback["model_calls"] == 4
