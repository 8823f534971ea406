"""Run one framework of those without an edges capture of their own on the edge shapes of
edges_more_scenario.py (a refusal, a content filter, 50 tool calls, hostile text in a tool's
arguments and result, a tool that raises, a model endpoint answering HTTP 500, and where the
framework runs on an event loop a run cancelled while a tool runs) against the scripted
model, and write the spans it exported, as OTLP protobuf (gzipped), plus what the framework
returned.

    VENV/bin/python -m tests.frameworks.captured.capture_edges_more FRAMEWORK [OUT_DIR]

FRAMEWORK and its VENV: ``crewai``, ``llamaindex``, ``autogen``, ``agno`` (the venvs of
tests/frameworks/venv_agents/requirements-<framework>.txt, traced by their OpenInference
instrumentors; AutoGen by autogen-core's own spans too: edges_more_venv_agents.py),
``semantic_kernel`` and ``agent_framework`` (their own GenAI spans, sensitive data on:
edges_more_genai_spans.py), ``haystack``, ``dspy`` and ``beeai`` (OpenInference; each in a
virtualenv of its own, the packages its entry names: edges_more_openinference.py), and
``mcp`` (an Agents SDK agent whose tools an MCP server serves, as capture_mcp.py runs it:
edges_more_mcp.py); the versions used are written into ``edges_<FRAMEWORK>.expected.json``
beside ``edges_<FRAMEWORK>.otlp.gz``.
"""

from __future__ import annotations

from opentelemetry.sdk.trace import SpanLimits

from tests.frameworks.captured import (
    edges_more_genai_spans,
    edges_more_mcp,
    edges_more_openinference,
    edges_more_venv_agents,
)
from tests.frameworks.captured.capture_driver import Framework, run_main

# The attributes a span keeps under instrumentation.configure() (setup.SPAN_ATTRIBUTE_COUNT,
# which some framework venvs cannot import: it needs google-re2); the SDK's default 128 drops
# the oldest of a long conversation's flattened messages.
SPAN_ATTRIBUTE_COUNT = 4096

# A framework's packages (their versions go in the expectations) and how it plays the shapes.
FRAMEWORKS: dict[str, Framework] = {
    **edges_more_venv_agents.FRAMEWORKS,
    **edges_more_genai_spans.FRAMEWORKS,
    **edges_more_openinference.FRAMEWORKS,
    **edges_more_mcp.FRAMEWORKS,
}


if __name__ == "__main__":
    limits = SpanLimits(max_span_attributes=SPAN_ATTRIBUTE_COUNT)
    run_main("edges", FRAMEWORKS, span_limits=limits, packed=True)
