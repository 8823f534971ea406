"""Sub-agents as their frameworks record them (captured shapes; see SPANS.md): a child
run's task is what its parent asked, as a person reading the logs would write it."""

from __future__ import annotations

import json

from collector import frameworks
from tests.frameworks.test_rules import _span

SMOL = "openinference.instrumentation.smolagents"
# smolagents 1.26's default ``managed_agent.task`` prompt around the manager's request.
MANAGED_PROMPT = (
    "You're a helpful agent named 'bottom_agent'.\n"
    "You have been submitted this task by your manager.\n"
    "---\nTask:\n{task}\n---\n"
    "You're helping your manager solve a wider task: so make sure to not provide a one-line "
    "answer, but give as much information as possible to give them a clear understanding of "
    "the answer.\n\nYour final_answer WILL HAVE to contain these parts:\n"
    "### 1. Task outcome (short version):\n"
)


def _smol_run(task: str) -> dict[str, object]:
    run = _span(
        "bottom_agent.run",
        SMOL,
        {
            "openinference.span.kind": "AGENT",
            "input.value": json.dumps({"task": task, "stream": False, "max_steps": None}),
            "output.value": "Zürich: sunny",
        },
    )
    return frameworks.run_fields(run)


def test_a_smolagents_managed_agent_works_on_what_its_manager_asked() -> None:
    asked = "Weather in Zürich?\n---\nGive the temperature too."  # a rule in the request
    fields = _smol_run(MANAGED_PROMPT.format(task=asked))
    assert fields["task"] == asked
    assert fields["agent_name"] == "bottom_agent"


def test_a_smolagents_task_that_is_no_managed_prompt_is_kept_whole() -> None:
    own = "You have been submitted this task by your manager.\n---\nTask:\nnot the template"
    assert _smol_run(own)["task"] == own
    assert _smol_run("Weather in Zürich?")["task"] == "Weather in Zürich?"


LLAMA = "openinference.instrumentation.llama_index"


def _llama_step(name: str, agent: str, start_ns: int) -> object:
    # Captured (0.14.25): each workflow step's input.value is the event's repr.
    state = f"AgentInput(input=[...], current_agent_name={agent!r})"
    return _span(
        name,
        LLAMA,
        {"openinference.span.kind": "CHAIN", "input.value": json.dumps({"ev": state})},
        start_ns=start_ns,
    )


def test_a_llama_index_agent_run_is_named_after_the_agent_in_its_steps_state() -> None:
    from collector.rules import llama_index

    run = _span("FunctionAgent.run", LLAMA, {"openinference.span.kind": "CHAIN"})
    steps = [
        _llama_step("BaseWorkflowAgent.setup_agent", "l'agent météo", 3),
        _llama_step("BaseWorkflowAgent.init_run", "weather_agent", 2),
    ]
    assert llama_index.derive_run_fields(run, steps)["agent_name"] == "weather_agent"
    quoted = [_llama_step("BaseWorkflowAgent.init_run", "l'agent météo", 2)]
    assert llama_index.derive_run_fields(run, quoted)["agent_name"] == "l'agent météo"
    # An AgentWorkflow's agents take turns: the run keeps the workflow's name.
    workflow = _span("AgentWorkflow.run", LLAMA, {"openinference.span.kind": "CHAIN"})
    assert "agent_name" not in llama_index.derive_run_fields(workflow, steps)


def test_an_adk_agent_s_later_turn_keeps_the_user_s_request_as_its_task() -> None:
    # ADK 1.10 relays the other agents' events of a LoopAgent / SequentialAgent as a user
    # message opening with "For context:"; the request is still the user's.
    from collector.rules import google_adk

    request = {
        "contents": [
            {"role": "user", "parts": [{"text": "Draft the weather report."}]},
            {"role": "model", "parts": [{"text": "draft 1"}]},
            {
                "role": "user",
                "parts": [{"text": "For context:"}, {"text": "[checker] said: not yet"}],
            },
        ]
    }
    call = _span(
        "call_llm",
        "gcp.vertex.agent",
        {"gcp.vertex.agent.llm_request": json.dumps(request)},
    )
    run = _span("agent_run [writer]", "gcp.vertex.agent", {}, span_id="2" * 16)
    assert google_adk.derive_run_fields(run, [call])["task"] == "Draft the weather report."
