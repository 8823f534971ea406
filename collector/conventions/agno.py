"""Agno's spans as openinference-instrumentation-agno writes them."""

from __future__ import annotations

__all__ = ["SCOPE"]

SCOPE = "openinference.instrumentation.agno"
