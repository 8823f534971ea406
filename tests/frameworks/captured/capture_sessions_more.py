"""The conversation shapes of sessions_scenario.py on more frameworks, as
capture_sessions.py plays them on its own: AG2 0.x's pair under its own tracing or
OpenInference's (sessions_ag2_agents.py), each in a virtualenv with ``ag2[openai]`` (below
1.0), both instrumentations and ``opentelemetry-sdk``; DSPy's ``ReAct`` traced by
OpenInference (sessions_dspy_agents.py), in one with ``dspy``, its instrumentor and
``litellm``. The files are
``sessions_<FRAMEWORK>.otlp.gz`` and ``.expected.json``, with the versions used.

    VENV/bin/python -m tests.frameworks.captured.capture_sessions_more FRAMEWORK [OUT_DIR]
"""

from __future__ import annotations

from opentelemetry.sdk.trace import SpanLimits

from tests.frameworks.captured import sessions_ag2_agents, sessions_dspy_agents
from tests.frameworks.captured.capture_driver import Framework, run_main
from tests.frameworks.captured.capture_sessions import SPAN_ATTRIBUTE_COUNT

FRAMEWORKS: dict[str, Framework] = {
    **sessions_ag2_agents.FRAMEWORKS,
    **sessions_dspy_agents.FRAMEWORKS,
}


if __name__ == "__main__":
    run_main(
        "sessions",
        FRAMEWORKS,
        span_limits=SpanLimits(max_span_attributes=SPAN_ATTRIBUTE_COUNT),
        packed=True,
    )
