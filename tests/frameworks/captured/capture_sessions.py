"""Run one framework on the conversation shapes of sessions_scenario.py (a session of two
runs, the second carrying the first's history; two tool calls in one turn, one raising;
tools answering an empty, a structured and a very long result; a structured answer; an agent
run from another's tool; a tool called with a wrong argument, then a tool the agent does not
have, each time told and called right; a structured answer that is no JSON, then a valid
one) against the scripted model, and write the spans it exported, as
OTLP protobuf (gzipped), plus what the framework returned.

    VENV/bin/python -m tests.frameworks.captured.capture_sessions FRAMEWORK [OUT_DIR]

FRAMEWORK and its VENV: ``pydantic_ai``, ``openai_agents``, ``langgraph``, ``smolagents``,
``strands``, ``google_adk`` (the project's environment; fewer shapes:
sessions_core_agents.py), ``haystack``, ``beeai`` (OpenInference:
sessions_openinference_agents.py), ``semantic_kernel`` and ``agent_framework`` (their own
GenAI spans: sessions_genai_agents.py), each in a virtualenv with the packages its entry
names, playing the same fewer shapes; ``agno``, ``autogen``, ``llamaindex``, ``crewai`` (the
venvs of tests/frameworks/venv_agents/requirements-<framework>.txt, traced by their
OpenInference instrumentors; AutoGen by autogen-core's own spans too). A session is each
framework's own: Agno's ``session_id`` over an in-memory db with ``add_history_to_context``,
AutoGen's agent kept between two ``run`` calls, LlamaIndex's ``Memory`` passed to both runs;
CrewAI has none (no session, no nested shape). The nested agent is AutoGen's ``AgentTool``,
and for the others a tool function running a second agent. The files are
``sessions_<FRAMEWORK>.otlp.gz`` and ``.expected.json``, with the versions used.
"""

from __future__ import annotations

from opentelemetry.sdk.trace import SpanLimits

from tests.frameworks.captured import (
    sessions_core_agents,
    sessions_genai_agents,
    sessions_openinference_agents,
    sessions_venv_agents,
)
from tests.frameworks.captured.capture_driver import Framework, run_main

# As capture_edges_more.py: the attributes a span keeps under instrumentation.configure().
SPAN_ATTRIBUTE_COUNT = 4096

FRAMEWORKS: dict[str, Framework] = {
    **sessions_venv_agents.FRAMEWORKS,
    **sessions_core_agents.FRAMEWORKS,
    **sessions_openinference_agents.FRAMEWORKS,
    **sessions_genai_agents.FRAMEWORKS,
}


if __name__ == "__main__":
    run_main(
        "sessions",
        FRAMEWORKS,
        span_limits=SpanLimits(max_span_attributes=SPAN_ATTRIBUTE_COUNT),
        packed=True,
    )
