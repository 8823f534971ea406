"""Runs and steps as pandas frames for tables and charts; pure, no Streamlit."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from dashboard.formatting import (
    format_cost,
    format_duration_ms,
    format_local_time,
    format_relative,
    one_line,
    parse_time,
    run_duration_ms,
    status_badge,
    visible_text,
)

__all__ = [
    "RUN_TABLE_COLUMNS",
    "STATUS_CELL_STYLES",
    "runs_frame",
    "runs_styler",
    "sql_frame",
    "timeline_frame",
]

RUN_TABLE_COLUMNS = (
    "Status",
    "Started",
    "Duration",
    "Agent",
    "Task",
    "Steps",
    "Tool calls",
    "Tokens",
    "Cost",
    "Model",
    "Error",
    "Source",
    "Run id",
)

# Status -> cell style: a tinted background keeps the theme's text colour, so the
# cell reads in the light and the dark theme alike.
STATUS_CELL_STYLES: dict[str, str] = {
    "running": "background-color: rgba(28, 131, 225, 0.18)",
    "completed": "background-color: rgba(33, 195, 84, 0.16)",
    "failed": "background-color: rgba(255, 75, 75, 0.22)",
    "max_steps": "background-color: rgba(255, 164, 33, 0.22)",
    "cancelled": "background-color: rgba(128, 132, 149, 0.22)",
    "lost": "background-color: rgba(128, 61, 245, 0.20)",
}


def _model(run: dict[str, Any]) -> str:
    return one_line(run.get("model_used") or run.get("model_requested") or "", 60)


def _tokens(run: dict[str, Any]) -> int | None:
    if run.get("input_tokens") is None and run.get("output_tokens") is None:
        return None
    return int(run.get("input_tokens") or 0) + int(run.get("output_tokens") or 0)


def runs_frame(
    runs: Sequence[dict[str, Any]],
    now: datetime | None = None,
    *,
    timezone: str | None = None,
) -> pd.DataFrame:
    """The runs table: one row a run, every cell plain text or a number (stored values stay
    inert). ``timezone`` is the viewer's (started times are shown in it); a run's tool
    calls come with it from ``GET /agent/runs``."""
    current = now or datetime.now(UTC)
    rows = [
        {
            "Status": status_badge(run.get("status")),
            "Started": _started(run, current, timezone),
            "Duration": format_duration_ms(run_duration_ms(run, current)),
            "Agent": one_line(run.get("agent_name") or "", 40),
            "Task": one_line(run.get("task") or "", 160),
            "Steps": int(run.get("step_count") or run.get("total_steps") or 0),
            "Tool calls": run.get("tool_calls"),
            "Tokens": _tokens(run),
            "Cost": format_cost(run.get("cost_usd")),
            "Model": _model(run),
            "Error": one_line(run.get("error") or "", 120),
            "Source": one_line(run.get("source") or "", 40),
            "Run id": visible_text(run.get("id") or ""),
        }
        for run in runs
    ]
    frame = pd.DataFrame(rows, columns=list(RUN_TABLE_COLUMNS))
    for column in ("Tool calls", "Tokens"):
        frame[column] = frame[column].astype("Int64")
    return frame


def _started(run: dict[str, Any], now: datetime, timezone: str | None) -> str:
    local = format_local_time(run.get("started_at"), timezone, now)
    relative = format_relative(run.get("started_at"), now)
    return f"{local} · {relative}" if relative else local


def runs_styler(frame: pd.DataFrame, runs: Sequence[dict[str, Any]]) -> Any:
    """``frame`` with each status cell tinted by its status.

    (Per-cell hover texts are not possible in ``st.dataframe``: pandas Styler
    tooltips come out as markup inside the cell, so the full task, UTC times and
    status explanations are on the run page and in the phone list's link tooltips.)
    """
    statuses = [str(r.get("status") or "") for r in runs]
    by_id = dict(zip((visible_text(r.get("id") or "") for r in runs), statuses, strict=True))
    styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for index, run_id in frame["Run id"].items():
        styles.loc[index, "Status"] = STATUS_CELL_STYLES.get(by_id.get(run_id, ""), "")
    return frame.style.apply(lambda _: styles, axis=None)


def timeline_frame(
    run: dict[str, Any], steps: Sequence[dict[str, Any]], now: datetime | None = None
) -> pd.DataFrame:
    """One bar per step for a waterfall: seconds from the run's start to each step's end.

    A running step reaches up to ``now``; a step without a start time is left out.
    """
    current = now or datetime.now(UTC)
    run_start = parse_time(run.get("started_at"))
    starts = [parse_time(step.get("started_at")) for step in steps]
    known = [s for s in starts if s is not None]
    origin = run_start or (min(known) if known else current)
    rows: list[dict[str, Any]] = []
    for step, started in zip(steps, starts, strict=True):
        if started is None:
            continue
        offset_s = (started - origin).total_seconds()
        duration = step.get("duration_ms")
        if duration is None:
            length_s = max((current - started).total_seconds(), 0.0)
        else:
            length_s = float(duration) / 1000
        name = step.get("tool_name") or step.get("model") or ""
        rows.append(
            {
                "step": int(step.get("step_number") or 0),
                "label": one_line(
                    f"{step.get('step_number')} {step.get('action_type')} {name}", 60
                ),
                "start_s": offset_s,
                "end_s": offset_s + length_s,
                "status": str(step.get("status") or "ok"),
                "duration": format_duration_ms(duration) if duration is not None else "running",
            }
        )
    frame = pd.DataFrame(rows, columns=["step", "label", "start_s", "end_s", "status", "duration"])
    if not frame.empty:
        # A step of a few ms in a run of minutes would be an invisible bar: give each a
        # minimum width of 0.5% of the whole run.
        min_width_s = float(frame["end_s"].max() - frame["start_s"].min()) * 0.005 or 0.001
        frame["end_s"] = frame["end_s"].clip(lower=frame["start_s"] + min_width_s)
    return frame


def _unique_names(columns: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for column in columns:
        count = seen.get(column, 0)
        seen[column] = count + 1
        names.append(column if count == 0 else f"{column}_{count}")
    return names


def _cell(value: Any) -> Any:
    # Nested values (lists, structs, JSON) become text: the grid cannot show them otherwise.
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        return visible_text(value)
    return value


def sql_frame(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """A query result as a frame; duplicate column names get a ``_1`` suffix."""
    return pd.DataFrame(
        [[_cell(v) for v in row] for row in rows], columns=_unique_names(list(columns))
    )
