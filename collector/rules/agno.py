"""Agno via openinference-instrumentation-agno: the conventions read its runs and steps;
this module reads how its runs fail. Run (``agent.run(...)``), a failed run's span is ERROR
with the status ``run status: error`` and its error text as ``output.value``; streamed
(``stream=True``), the run span **ends OK with no output** and only the model call that
failed says so. Either way the run failed with its last step's error, and has no answer.
A run cancelled (``asyncio`` cancellation, Ctrl-C: a ``BaseException``) ends its span with no
status and no output, where every other ending sets one: the run was cancelled.
See tests/frameworks/SPANS.md."""

from __future__ import annotations

from typing import Any

from collector.conventions import agno as AG
from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.rules.common import exception
from collector.span_values import error_text
from instrumentation.attributes import RunStatus

__all__ = ["SCOPES", "run_fields", "run_status", "derive_run_fields"]

SCOPES = frozenset({AG.SCOPE})
_STATUS_ERROR = 2
_UNSET = 0
_STEP_KINDS = frozenset({OI.KIND_LLM, OI.KIND_TOOL})


def run_fields(span: SpanRecord) -> dict[str, Any]:
    # A failed run's output is its error text, not an answer.
    return {"final_answer": None} if span.status_code == _STATUS_ERROR else {}


def run_status(span: SpanRecord) -> str | None:
    # The instrumentor sets OK or ERROR on every ending it catches (``except Exception``);
    # a cancellation or Ctrl-C passes through it and leaves the run span UNSET.
    kind = str(span.attributes.get(OI.SPAN_KIND, "")).upper()
    if kind == OI.KIND_AGENT and span.status_code == _UNSET:
        return RunStatus.CANCELLED
    return None


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    """The error of a failed run whose span does not say why (``run status: error``), and
    a streamed run that ended with no output on a failed step: failed."""
    if exception(run_span) is not None:
        return {}
    steps = [s for s in own if str(s.attributes.get(OI.SPAN_KIND, "")).upper() in _STEP_KINDS]
    last = max(steps, key=lambda s: (s.end_ns, s.start_ns), default=None)
    if last is None or last.status_code != _STATUS_ERROR:
        return {}
    cause = error_text(last, "")
    if run_span.status_code == _STATUS_ERROR:
        return {"error": cause}
    if OI.OUTPUT_VALUE not in run_span.attributes:
        return {"status": RunStatus.FAILED, "error": cause}
    return {}
