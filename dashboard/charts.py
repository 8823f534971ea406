"""Altair chart builders for the run timeline and the stats page; pure, no Streamlit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

from dashboard.formatting import STATUS_COLORS
from instrumentation.attributes import RunStatus, StepStatus

__all__ = [
    "cost_by_chart",
    "cost_over_time_chart",
    "counts_bar_chart",
    "duration_histogram",
    "error_rate_chart",
    "runs_over_time_chart",
    "timeline_chart",
    "top_tools_chart",
]

_STATUS_ORDER = list(STATUS_COLORS)
_STATUS_SCALE = alt.Scale(
    domain=_STATUS_ORDER,
    range=["#1c83e1", "#21c354", "#ff4b4b", "#ffa421", "#808495", "#803df5"],
)
_STEP_SCALE = alt.Scale(
    domain=[StepStatus.OK.value, StepStatus.ERROR.value, StepStatus.RUNNING.value],
    range=["#21c354", "#ff4b4b", "#1c83e1"],
)


def timeline_chart(frame: pd.DataFrame) -> alt.Chart:
    """A waterfall: one horizontal bar per step from its start to its end, in step order."""
    return (
        alt.Chart(frame)
        .mark_bar(cornerRadius=2)
        .encode(
            x=alt.X("start_s:Q", title="seconds since the run started", axis=alt.Axis(format="~g")),
            x2="end_s:Q",
            y=alt.Y(
                "label:N",
                sort=alt.EncodingSortField(field="step", order="ascending"),
                title=None,
                axis=alt.Axis(labelOverlap=False, labelLimit=260),
            ),
            color=alt.Color("status:N", scale=_STEP_SCALE, title="step"),
            tooltip=["step:Q", "label:N", "status:N", "duration:N"],
        )
        .properties(height=alt.Step(22))  # one 22 px band per step
    )


def _bucket_frame(points: Sequence[Mapping[str, Any]], bucket: str) -> pd.DataFrame:
    frame = pd.DataFrame(list(points), columns=["bucket", "status", "runs"])
    moments = pd.to_datetime(frame["bucket"], utc=True, errors="coerce")
    # Ordinal labels give each bucket a full-width bar, even when there is only one.
    frame["period"] = moments.dt.strftime("%m-%d %H:00" if bucket == "hour" else "%Y-%m-%d")
    return frame


def runs_over_time_chart(points: Sequence[Mapping[str, Any]], bucket: str = "day") -> alt.Chart:
    """Stacked bars of runs per time bucket, coloured by status."""
    frame = _bucket_frame(points, bucket)
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("period:O", title=None, sort="ascending"),
            y=alt.Y("sum(runs):Q", title="runs"),
            color=alt.Color("status:N", scale=_STATUS_SCALE, sort=_STATUS_ORDER),
            tooltip=["period:O", "status:N", "runs:Q"],
        )
    )


def error_rate_chart(points: Sequence[Mapping[str, Any]], bucket: str = "day") -> alt.Chart:
    """Share of failed runs per time bucket (failed / runs that ended in the bucket)."""
    frame = _bucket_frame(points, bucket)
    # Like the API's error_rate: failed among the runs that ended (running ones excluded).
    frame["failed"] = frame["runs"].where(frame["status"] == RunStatus.FAILED.value, 0)
    frame["ended"] = frame["runs"].where(frame["status"] != RunStatus.RUNNING.value, 0)
    rates = frame.groupby("period", as_index=False)[["runs", "failed", "ended"]].sum()
    rates["error_rate"] = rates["failed"] / rates["ended"].where(rates["ended"] > 0)
    return (
        alt.Chart(rates)
        .mark_bar(color="#ff4b4b")
        .encode(
            x=alt.X("period:O", title=None, sort="ascending"),
            y=alt.Y("error_rate:Q", title="failed share", axis=alt.Axis(format="%")),
            tooltip=["period:O", alt.Tooltip("error_rate:Q", format=".1%"), "runs:Q"],
        )
    )


def duration_histogram(durations_ms: Sequence[float]) -> alt.Chart:
    """How long runs took: a histogram of durations in seconds."""
    frame = pd.DataFrame({"seconds": [d / 1000 for d in durations_ms]})
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("seconds:Q", bin=alt.Bin(maxbins=30), title="run duration (s)"),
            y=alt.Y("count():Q", title="runs"),
            tooltip=[alt.Tooltip("count():Q", title="runs")],
        )
    )


def counts_bar_chart(counts: Mapping[str, Any], *, label: str) -> alt.Chart:
    """Horizontal bars of run counts by ``label`` (a source, a model), largest first."""
    frame = pd.DataFrame(
        [
            {label: str(k) if k not in (None, "") else "(none)", "runs": int(v or 0)}
            for k, v in counts.items()
        ],
        columns=[label, "runs"],
    )
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("runs:Q", title="runs"),
            y=alt.Y(f"{label}:N", sort="-x", title=None),
            tooltip=[f"{label}:N", "runs:Q"],
        )
    )


def top_tools_chart(tools: Sequence[Mapping[str, Any]]) -> alt.Chart:
    """Calls per tool split into succeeded and failed, most used first."""
    rows = []
    for tool in tools:
        calls = int(tool.get("calls") or 0)
        errors = int(tool.get("errors") or 0)
        name = str(tool.get("tool_name") or "(unnamed)")
        rows.append({"tool": name, "outcome": "ok", "calls": calls - errors, "total": calls})
        rows.append({"tool": name, "outcome": "error", "calls": errors, "total": calls})
    frame = pd.DataFrame(rows, columns=["tool", "outcome", "calls", "total"])
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("sum(calls):Q", title="calls"),
            y=alt.Y(
                "tool:N",
                sort=alt.EncodingSortField("total", op="max", order="descending"),
                title=None,
            ),
            color=alt.Color("outcome:N", scale=_STEP_SCALE),
            tooltip=["tool:N", "outcome:N", "calls:Q"],
        )
    )


def cost_over_time_chart(points: Sequence[Mapping[str, Any]], bucket: str = "day") -> alt.Chart:
    """Cost in USD per time bucket, stacked by model."""
    frame = pd.DataFrame(list(points), columns=["bucket", "model", "cost_usd"])
    moments = pd.to_datetime(frame["bucket"], utc=True, errors="coerce")
    frame["period"] = moments.dt.strftime("%m-%d %H:00" if bucket == "hour" else "%Y-%m-%d")
    frame["model"] = frame["model"].fillna("(none)")
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("period:O", title=None, sort="ascending"),
            y=alt.Y("sum(cost_usd):Q", title="USD", axis=alt.Axis(format="$,.3~f")),
            color=alt.Color("model:N", title="model"),
            tooltip=["period:O", "model:N", alt.Tooltip("sum(cost_usd):Q", format="$,.4f")],
        )
    )


def cost_by_chart(costs: Mapping[str, Any], *, label: str) -> alt.Chart:
    """Horizontal bars of cost in USD by ``label`` (a model, an agent), largest first."""
    frame = pd.DataFrame(
        [
            {label: str(k) if k not in (None, "") else "(none)", "cost_usd": float(v or 0)}
            for k, v in costs.items()
        ],
        columns=[label, "cost_usd"],
    )
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("cost_usd:Q", title="USD", axis=alt.Axis(format="$,.3~f")),
            y=alt.Y(f"{label}:N", sort="-x", title=None),
            tooltip=[f"{label}:N", alt.Tooltip("cost_usd:Q", format="$,.4f")],
        )
    )
