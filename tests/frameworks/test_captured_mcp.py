"""An agent whose tools are an MCP server's (``captured/capture_mcp.py``: the OpenAI Agents SDK
over streamable HTTP, traced by OpenInference and the ``mcp`` SDK's own client and server
spans; with ``mcp<2``, by OpenLLMetry's MCP instrumentation), sent over the wire to a real
collector: each tool call is one step, the framework's, with the arguments and the result
the SDK reported; the MCP spans below it are no steps, and an MCP tool that answered
``isError`` makes that step an error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CollectorHandle
from tests.frameworks.test_captured_frameworks import _send, _trace_ids
from tests.support import wait_until

CAPTURED = Path(__file__).parent / "captured"
# Each capture's MCP spans around one tool call: mcp 2.x's own client and server spans, or
# (mcp 1.x) OpenLLMetry's tool span; by scope and a name pattern (SQL LIKE).
MCP_SPANS = {
    "mcp": ("mcp-python-sdk", "%tools/call %", 2),
    "mcp_v1": ("opentelemetry.instrumentation.mcp.instrumentation", "%.tool", 1),
}
RUNS = "id, agent_name, status, task, final_answer, error, total_steps, input_tokens, output_tokens"
STEPS = "action_type, tool_name, tool_args, tool_result, status, error, span_id"


@pytest.mark.parametrize("name", sorted(MCP_SPANS))
def test_each_mcp_tool_call_is_one_step_of_the_agent(
    module_collector: CollectorHandle, name: str
) -> None:
    expected = json.loads((CAPTURED / f"{name}.expected.json").read_text())
    body = (CAPTURED / f"{name}.otlp").read_bytes()
    _send(module_collector, body)
    traces = _trace_ids(body)

    def settled() -> dict[str, tuple[Any, ...]] | None:
        rows = module_collector.query(
            f"SELECT {RUNS} FROM agent_runs WHERE trace_id IN (SELECT unnest(?))", [traces]
        )
        done = len(rows) == 2 and {r[2] for r in rows} == {"completed", "failed"}
        return {r[3]: r for r in rows} if done else None

    runs = wait_until(settled, timeout_s=15, what="the MCP agent's runs")
    done = expected["success"]
    run = runs[done["task"]]
    assert run[1:6] == ("Weather Agent", "completed", done["task"], done["answer"], None)
    assert (run[7], run[8]) == (done["input_tokens"], done["output_tokens"])
    steps = module_collector.query(
        f"SELECT {STEPS} FROM agent_steps WHERE agent_run_id = ? ORDER BY step_number", [run[0]]
    )
    assert run[6] == len(steps) == done["model_calls"] + len(done["tools"])
    assert [s[0] for s in steps] == ["think", "tool_call"] * len(done["tools"]) + ["think"]
    tools = [s for s in steps if s[0] == "tool_call"]
    for row, call in zip(tools, done["tools"], strict=True):
        assert (row[1], json.loads(row[2]), json.loads(row[3])) == (
            call["name"], call["args"], call["result"],
        )  # fmt: skip
    # The server answered isError for the first call: its span says so, the framework's not.
    failed = done["tools"][0]["result"]["text"]
    assert [(s[4], s[5]) for s in tools] == [("error", failed), ("ok", None), ("ok", None)]
    # The step is the framework's tool span; the MCP spans below it (in the same trace) are
    # stored, no steps.
    scope, pattern, per_call = MCP_SPANS[name]
    mcp = module_collector.query(
        "SELECT count(*) FROM spans WHERE trace_id IN (SELECT unnest(?)) "
        "AND scope_name = ? AND name LIKE ?",
        [traces, scope, pattern],
    )
    assert mcp == [(per_call * len(done["tools"]),)]
    assert not module_collector.query(
        "SELECT 1 FROM agent_steps s JOIN spans p ON p.trace_id = s.trace_id "
        "AND p.span_id = s.span_id WHERE p.scope_name = ?",
        [scope],
    )

    failing = expected["fails"]
    run = runs[failing["task"]]
    assert (run[2], run[4]) == ("failed", None)
    assert failing["raised"].split(": ", 1)[1] in run[5]
