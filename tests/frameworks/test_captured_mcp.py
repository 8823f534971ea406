"""An agent whose tools are an MCP server's (``captured/capture_mcp.py``: the OpenAI Agents SDK
over streamable HTTP, traced by OpenInference and the ``mcp`` SDK's own client and server
spans), sent over the wire to a real collector: each tool call is one step, the framework's,
with the arguments and the result the SDK reported; the MCP spans below it are no steps,
and an MCP tool that answered ``isError`` makes that step an error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import CollectorHandle
from tests.frameworks.test_captured_frameworks import _send, _trace_ids
from tests.support import wait_until

CAPTURED = Path(__file__).parent / "captured"
EXPECTED = json.loads((CAPTURED / "mcp.expected.json").read_text())
RUNS = "id, agent_name, status, task, final_answer, error, total_steps, input_tokens, output_tokens"
STEPS = "action_type, tool_name, tool_args, tool_result, status, error, span_id"


def test_each_mcp_tool_call_is_one_step_of_the_agent(module_collector: CollectorHandle) -> None:
    body = (CAPTURED / "mcp.otlp").read_bytes()
    _send(module_collector, body)
    traces = _trace_ids(body)

    def settled() -> dict[str, tuple[Any, ...]] | None:
        rows = module_collector.query(
            f"SELECT {RUNS} FROM agent_runs WHERE trace_id IN (SELECT unnest(?))", [traces]
        )
        done = len(rows) == 2 and {r[2] for r in rows} == {"completed", "failed"}
        return {r[3]: r for r in rows} if done else None

    runs = wait_until(settled, timeout_s=15, what="the MCP agent's runs")
    done = EXPECTED["success"]
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
    # The step is the framework's tool span; the mcp SDK's client and server spans below
    # it (in the same trace, through the context the client sent) are stored, no steps.
    mcp = module_collector.query(
        "SELECT count(*) FROM spans WHERE trace_id IN (SELECT unnest(?)) "
        "AND scope_name = 'mcp-python-sdk' AND name LIKE '%tools/call %'",
        [traces],
    )
    assert mcp == [(2 * len(done["tools"]),)]
    assert not module_collector.query(
        "SELECT 1 FROM agent_steps s JOIN spans p ON p.trace_id = s.trace_id "
        "AND p.span_id = s.span_id WHERE p.scope_name = 'mcp-python-sdk'"
    )

    failing = EXPECTED["fails"]
    run = runs[failing["task"]]
    assert (run[2], run[4]) == ("failed", None)
    assert failing["raised"].split(": ", 1)[1] in run[5]
