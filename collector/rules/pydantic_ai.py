"""pydantic-ai's own spans: a run stopped by its request or tool-call limit
(``UsageLimits``) reached its step limit, it did not fail."""

from __future__ import annotations

from collector.conventions import pydantic_ai as PAI
from collector.decode import SpanRecord
from collector.rules.common import exception
from instrumentation.attributes import RunStatus

__all__ = ["SCOPES", "run_status"]

SCOPES = frozenset({PAI.SCOPE})


def run_status(span: SpanRecord) -> str | None:
    found = exception(span)
    if found is None or found[0].rsplit(".", 1)[-1] != PAI.USAGE_LIMIT_ERROR:
        return None
    return RunStatus.MAX_STEPS if any(limit in found[1] for limit in PAI.STEP_LIMITS) else None
