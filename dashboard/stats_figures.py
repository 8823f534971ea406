"""The stats page's figures and tables as plain values; pure.

The page draws them as metrics and tables (dashboard/views/stats.py,
dashboard/views/cost_stats.py), the page document's preview as HTML
(dashboard/preview_pages.py): one source, so both say the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dashboard.formatting import format_cost, format_duration_ms, one_line

__all__ = ["TOOL_COLUMNS", "cost_figures", "headline_figures", "tool_rows"]

TOOL_COLUMNS = ("Tool", "Calls", "Errors", "Error rate", "p95 duration")


def headline_figures(stats: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The eight headline figures of ``GET /agent/stats``, as (label, shown value)."""
    duration = stats.get("duration_ms") or {}
    steps = stats.get("steps_per_run") or {}
    tokens = stats.get("tokens") or {}
    return [
        ("Runs", f"{int(stats.get('total_runs') or 0):,}"),
        ("Error rate", f"{float(stats.get('error_rate') or 0):.1%}"),
        ("Duration p50", format_duration_ms(duration.get("p50"))),
        ("Duration p95", format_duration_ms(duration.get("p95"))),
        ("Steps per run (avg)", f"{float(steps.get('avg') or 0):.1f}"),
        ("Longest run", format_duration_ms(duration.get("max"))),
        ("Input tokens", f"{int(tokens.get('input') or 0):,}"),
        ("Output tokens", f"{int(tokens.get('output') or 0):,}"),
    ]


def tool_rows(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The top tools as table rows (:data:`TOOL_COLUMNS`)."""
    return [
        {
            "Tool": one_line(t.get("tool_name") or "(unnamed)", 60),
            "Calls": int(t.get("calls") or 0),
            "Errors": int(t.get("errors") or 0),
            "Error rate": f"{float(t.get('error_rate') or 0):.1%}",
            "p95 duration": format_duration_ms(t.get("p95_duration_ms")),
        }
        for t in tools
    ]


def cost_figures(costs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Total cost, cost per priced run and runs without a price (``GET /agent/costs``)."""
    total = costs.get("total_usd")
    runs = int(costs.get("runs") or 0)
    unpriced = int(costs.get("unpriced_runs") or 0)
    priced = runs - unpriced
    return [
        ("Total cost", format_cost(total) or "–"),
        ("Cost per priced run (avg)", format_cost((total or 0) / priced) if priced else "–"),
        ("Runs without a price", f"{unpriced:,}"),
    ]
