"""Other frameworks' runs in the explorer, in a real headless Chromium: each captured
trace (tests/frameworks/captured/) is replayed over OTLP/HTTP into the collector the
dashboard reads.

An LLM step's transcript for frameworks that record the model's messages somewhere
other than the GenAI message attributes (span events, an ``events`` JSON attribute,
attributes of their own); a sub-agent run nested under the step that called it.
"""

from __future__ import annotations

import re

import pytest

from tests.dashboard.browser_support import Served, screenshot
from tests.frameworks.captured_runs import body_of, send_capture, trace_ids
from tests.support import wait_until

pytestmark = pytest.mark.browser

# capture -> where its messages are
CAPTURES = {
    "edges_strands": "GenAI span events (gen_ai.user.message, gen_ai.choice)",
    "pydantic_ai_v1": "GenAI events as a JSON list in the events attribute",
    "edges_google_adk": "gcp.vertex.agent.llm_request / llm_response",
    "ai_sdk": "ai.prompt.messages, ai.response.*",
    "langfuse": "langfuse.observation.input / output",
    "mlflow_mlflow": "mlflow.spanInputs / spanOutputs",
}


def _first_model_call(served: Served, capture: str) -> tuple[str, int, str]:
    """(run id, step number, task) of the first finished run of the capture that has a
    model call, and that call's step number."""
    traces = trace_ids(body_of(capture))

    def found() -> tuple[str, int, str] | None:
        rows = served.collector.query(
            "SELECT r.id, min(s.step_number), any_value(r.task) FROM agent_runs r "
            "JOIN agent_steps s ON s.agent_run_id = r.id "
            "WHERE r.trace_id IN (SELECT unnest(?)) AND r.status <> 'running' "
            "AND r.task IS NOT NULL AND s.action_type = 'think' AND s.error IS NULL "
            "GROUP BY r.id, r.started_at ORDER BY r.started_at LIMIT 1",
            [traces],
        )
        return (str(rows[0][0]), int(rows[0][1]), str(rows[0][2])) if rows else None

    return wait_until(found, timeout_s=20, what=f"a model call of {capture} stored")


@pytest.mark.parametrize("capture", list(CAPTURES))
def test_a_model_call_shows_its_conversation(served: Served, capture: str) -> None:
    from playwright.sync_api import expect

    page = served.page
    send_capture(served.collector, body_of(capture))
    run_id, number, task = _first_model_call(served, capture)
    page.goto(f"{served.url}/run?run={run_id}&step={number}")  # type: ignore[attr-defined]
    page.get_by_text(re.compile(rf"Step {number} · LLM call")).wait_for()  # type: ignore[attr-defined]
    page.get_by_text(re.compile(r"\d+ messages, from the span's")).wait_for()  # type: ignore[attr-defined]
    chat = page.get_by_test_id("stChatMessage")  # type: ignore[attr-defined]
    # The prompt the user gave (the run's task) and the model's completion.
    expect(chat.filter(has_text=task[:40]).first).to_be_visible()
    expect(chat.filter(has_text="completion").first).to_be_visible()
    screenshot(page, f"transcript-{capture}.png")


def test_a_sub_agent_run_sits_under_the_step_that_called_it(served: Served) -> None:
    """OpenAI Agents JS, an agent used as a tool: the converter agent's run span lies
    under a workflow span under the manager's ``ask_converter`` tool span."""
    from playwright.sync_api import expect

    page = served.page
    body = body_of("openai_agents_js")
    send_capture(served.collector, body)

    def parent_run() -> str | None:
        rows = served.collector.query(
            "SELECT p.id FROM agent_runs p JOIN agent_runs c ON c.parent_run_id = p.id "
            "WHERE p.trace_id IN (SELECT unnest(?)) AND p.status = 'completed' "
            "AND c.status = 'completed' ORDER BY p.started_at LIMIT 1",
            [trace_ids(body)],
        )
        return str(rows[0][0]) if rows else None

    run_id = wait_until(parent_run, timeout_s=20, what="the manager run and its sub-run")
    page.goto(f"{served.url}/run?run={run_id}")  # type: ignore[attr-defined]
    tool = page.locator(".tree .row", has_text="ask_converter").first  # type: ignore[attr-defined]
    sub_run = page.locator(".tree .row[data-key^='run:']").first  # type: ignore[attr-defined]
    expect(sub_run).to_be_visible()
    expect(tool).to_have_attribute("aria-expanded", "true")  # it has a child now
    indent = "r => parseFloat(r.querySelector('.label').style.paddingLeft)"
    assert sub_run.evaluate(indent) > tool.evaluate(indent)
    page.get_by_role("button", name="Collapse all").click()  # type: ignore[attr-defined]
    expect(sub_run).to_be_hidden()
    screenshot(page, "explorer-sub-agent-nested.png")
