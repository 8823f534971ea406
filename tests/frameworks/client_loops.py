"""What a loop written by hand around an LLM client reads as, once its capture is stored:
the checks test_captured_clients.py and test_captured_more_clients.py share.

The loop (captured/capture_llm_clients.py, captured/capture_more_clients.py) runs the shared
agent's task in a ``weather_loop`` span of its own, then a failing loop, the same loop with
no span around it and a lone call; each model call is traced by the client's
instrumentation only.
"""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import CollectorHandle
from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured_runs import run_steps

# Prompt tokens per call, cached parts included (the later calls read 60 from the cache),
# and the answer's tokens.
PROMPT_TOKENS = [100, 110, 120, 130]
OUTPUT_TOKENS = [10, 11, 12, 13]


def runless_steps(collector: CollectorHandle, traces: list[str]) -> list[tuple[Any, ...]]:
    """The steps of ``traces`` that belong to no run: kind, status, model and tokens."""
    return collector.query(
        "SELECT action_type, status, model, input_tokens, output_tokens FROM agent_steps "
        "WHERE trace_id IN (SELECT unnest(?)) AND agent_run_id IS NULL ORDER BY started_at",
        [traces],
    )


def check_loop_runs(
    collector: CollectorHandle,
    traces: list[str],
    expected: dict[str, Any],
    rows: tuple[tuple[Any, ...], tuple[Any, ...]],
    *,
    requested: str,
    served: str,
    step_error: str,
    failed_task: bool = True,
) -> None:
    """The runs (``rows``: the completed loop's and the failed one's) and the run-less steps
    read as the loop returned (``expected``): each model call one ``think`` step with the
    ``served`` model, its tokens and the tool it asked for with the result the loop sent
    back; the failed call's step with the client's ``step_error``; the failed run with its
    task unless ``failed_task`` is False."""
    done_row, failed_row = rows
    done = expected["success"]
    assert [t["name"] for t in done["tools"]] == ["get_weather", "get_weather", "to_fahrenheit"]
    assert done_row[1:8] == ("weather_loop", "completed", done["task"], done["answer"], None,
                             None, done["model_calls"])  # fmt: skip
    assert done_row[8:12] == (sum(PROMPT_TOKENS), sum(OUTPUT_TOKENS), requested, served)
    steps = run_steps(collector, done_row[0])
    assert [(s[0], s[4], s[6], s[7]) for s in steps] == [
        ("think", "ok", served, n) for n in PROMPT_TOKENS
    ]
    # The loop's tools are untraced: each call's step shows the tool it asked for, with
    # its arguments, and the result the loop sent the next call.
    asked = [(s[1], json.loads(s[2]) if s[2] else None, s[3]) for s in steps]
    assert asked == [(t["name"], t["args"], t["result"]) for t in done["tools"]] + [
        (None, None, None)
    ]

    fails = expected["fails"]
    assert S.MODEL_ERROR in fails["raised"]
    task = fails["task"] if failed_task else None
    assert failed_row[1:6] == ("weather_loop", "failed", task, None, fails["raised"])
    # The failed call's step names the model it asked for.
    assert failed_row[10:12] == (expected["model"], expected["model"])
    failed_steps = run_steps(collector, failed_row[0])
    assert [(s[0], s[4], s[6]) for s in failed_steps] == [("think", "error", expected["model"])]
    assert step_error in failed_steps[0][5] and S.MODEL_ERROR in failed_steps[0][5]

    bare = expected["bare"]
    assert bare["answer"] == done["answer"] and bare["model_calls"] == len(PROMPT_TOKENS)
    calls = [
        ("think", "ok", served, n, m) for n, m in zip(PROMPT_TOKENS, OUTPUT_TOKENS, strict=True)
    ]
    assert runless_steps(collector, traces) == [*calls, ("think", "ok", served, 7, 2)]
    assert expected["lone"]["answer"] == "Hello!"
