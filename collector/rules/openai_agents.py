"""The OpenAI Agents SDK through OpenInference: a run stopped by ``max_turns``
(``MaxTurnsExceeded``, only the agent span's status description tells) reached its step
limit, it did not fail. The SDK's workflow span is classified in collector/frameworks.py."""

from __future__ import annotations

from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from instrumentation.attributes import RunStatus

__all__ = ["SCOPES", "run_status"]

SCOPES = frozenset({OI.OPENAI_AGENTS_SCOPE})


def run_status(span: SpanRecord) -> str | None:
    if span.status_code == 2 and span.status_message.startswith(OI.OPENAI_AGENTS_MAX_TURNS):
        return RunStatus.MAX_STEPS
    return None
