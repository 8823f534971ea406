"""Previews of the compare, live, stats and SQL pages (see dashboard/page_preview.py).

Each shows what its page shows first, as plain HTML, from the same API answers
(read through the shared cache by dashboard/preview_middleware.py): two runs and
their aligned steps; the running agents and the runs that just finished; the
stats' figures and tables (their charts need JavaScript: the tables say the same
in rows); the SQL editor as it opens. The SQL preview runs no query: the page
runs one only when asked, and so does its preview (never).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from dashboard.compare import StepPair, align_steps, differs_label, step_label
from dashboard.formatting import (
    STATUS_EXPLANATIONS,
    STEP_STATUS_ICONS,
    format_cost,
    format_duration_ms,
    format_time,
    one_line,
    run_duration_ms,
)
from dashboard.page_preview import (
    READY_CHART,
    READY_FORM,
    READY_GRID,
    READY_METRIC,
    escape,
    frame,
    page_link,
    runs_table,
    status_html,
)
from dashboard.sql_examples import EDITOR_LABEL, EXAMPLES_PLACEHOLDER, FIRST_QUERY, ROW_LIMIT
from dashboard.stats_figures import TOOL_COLUMNS, cost_figures, headline_figures, tool_rows

__all__ = [
    "CompareSide",
    "compare_preview",
    "costs_preview",
    "live_preview",
    "sql_preview",
    "stats_preview",
]

Record = Mapping[str, Any]
# One side of a comparison: the run id asked for, and the run with its steps (None:
# no such run).
CompareSide = tuple[str, tuple[Record, list[Record]] | None]
# The live page's table of just finished runs (views/live.py), less its "open" links
# (each task here is one).
FINISHED_COLUMNS = ("Status", "Started (UTC)", "Duration", "Agent", "Task", "Steps", "Error")
PAIRS_SHOWN = 60  # a long comparison's preview lists its first aligned steps
BUCKETS_SHOWN = 14  # the latest buckets of runs over time


def _figures(figures: Sequence[tuple[str, object]]) -> str:
    shown = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in figures)
    return f'<dl class="figures">{shown}</dl>'


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    """A table of HTML cells (each already escaped); ``numeric``: right-aligned columns."""

    def cls(index: int) -> str:
        return ' class="num"' if index in numeric else ""

    head = "".join(f"<th{cls(i)}>{escape(c)}</th>" for i, c in enumerate(columns))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{cell}</td>" for i, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    # A wide table scrolls in its own box (as Streamlit's tables do), never the page.
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def _message(text: str) -> str:
    return f'<p class="card">{escape(text)}</p>'


# --- compare --------------------------------------------------------------------------
def _tokens(run: Record) -> int:
    return int(run.get("input_tokens") or 0) + int(run.get("output_tokens") or 0)


def _compare_summary(label: str, run: Record, steps: list[Record], now: datetime) -> str:
    task = one_line(run.get("task") or "(no task)", 120)
    status = str(run.get("status") or "")
    model = run.get("model_used") or run.get("model_requested") or "–"
    where = (
        f"{format_time(run.get('started_at'))} · {one_line(run.get('agent_name') or '–', 40)}"
        f" · {one_line(model, 40)}"
    )
    figures = [
        ("Duration", format_duration_ms(run_duration_ms(dict(run), now))),
        ("Steps", len(steps)),
        ("Tokens", f"{_tokens(run):,}"),
        ("Cost", format_cost(run.get("cost_usd")) or "–"),
    ]
    explained = STATUS_EXPLANATIONS.get(status)
    return (
        f"<div><p><b>{escape(label)}</b> · {page_link('run', {'run': run.get('id')}, task)}</p>"
        f"<p>{status_html(status)}</p>"
        + (f'<p class="note">{escape(explained)}</p>' if explained else "")
        + f'<p class="note">{escape(where)}</p>{_figures(figures)}</div>'
    )


def _step_cell(run: Record, step: Record | None) -> str:
    if step is None:
        return ""
    number = step.get("step_number")
    return page_link("run", {"run": run.get("id"), "step": number}, step_label(dict(step)))


def _pair_row(run_a: Record, run_b: Record, pair: StepPair) -> str:
    a, b = pair.a or {}, pair.b or {}
    whole = "only" if pair.only_in else ""
    # Cells that differ are tinted as on the page (compare_runs._styled).
    steps_differ = {"tool", "arguments", "output"} & set(pair.differs)
    cells = [
        (escape(differs_label(pair)), "differs" if pair.differs and not whole else ""),
        (escape(a.get("step_number", "")), "num"),
        (_step_cell(run_a, pair.a), "differs" if steps_differ and not whole else ""),
        (escape(format_duration_ms(a.get("duration_ms")) if pair.a else ""), "num wide"),
        (escape(b.get("step_number", "")), "num"),
        (_step_cell(run_b, pair.b), "differs" if steps_differ and not whole else ""),
        (escape(format_duration_ms(b.get("duration_ms")) if pair.b else ""), "num wide"),
    ]
    if "duration" in pair.differs and not whole:
        cells[3] = (cells[3][0], "num wide differs")
        cells[6] = (cells[6][0], "num wide differs")
    tds = "".join(f'<td class="{c}">{html}</td>' if c else f"<td>{html}</td>" for html, c in cells)
    return f'<tr class="{whole}">{tds}</tr>' if whole else f"<tr>{tds}</tr>"


def compare_preview(
    a: CompareSide | None, b: CompareSide | None, now: datetime | None = None
) -> str:
    """Two runs' summaries and their steps aligned (``None``: the URL names no run there)."""
    current = now or datetime.now(UTC)
    if a is None or b is None:
        body = _message("Pick two runs: open a run and use Compare with, or paste two run ids.")
        return frame("Compare runs", body, READY_GRID)
    missing = [run_id for run_id, loaded in (a, b) if loaded is None]
    if missing:
        body = "".join(_message(f"No run with id {one_line(i, 80)}.") for i in missing)
        return frame("Compare runs", body, READY_GRID)
    assert a[1] is not None and b[1] is not None
    (run_a, steps_a), (run_b, steps_b) = a[1], b[1]
    pairs = align_steps([dict(s) for s in steps_a], [dict(s) for s in steps_b])
    parts = [
        '<div class="cols">',
        _compare_summary("A", run_a, steps_a, current),
        _compare_summary("B", run_b, steps_b, current),
        "</div><h4>Steps, aligned</h4>",
    ]
    head = "".join(
        f'<th class="{cls}">{name}</th>'
        for name, cls in (
            ("Differs", ""),
            ("A #", "num"),
            ("A step", ""),
            ("A took", "num wide"),
            ("B #", "num"),
            ("B step", ""),
            ("B took", "num wide"),
        )
    )
    rows = "".join(_pair_row(run_a, run_b, pair) for pair in pairs[:PAIRS_SHOWN])
    parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    if len(pairs) > PAIRS_SHOWN:
        parts.append(f'<p class="note">… and {len(pairs) - PAIRS_SHOWN:,} more aligned steps.</p>')
    return frame("Compare runs", "".join(parts), READY_GRID)


# --- live -----------------------------------------------------------------------------
def _step_line(step: Record) -> str:
    icon = STEP_STATUS_ICONS.get(str(step.get("status")), "·")
    name = step.get("tool_name") or step.get("model")
    label = " ".join(
        [str(step.get("step_number", "?")), icon, str(step.get("action_type") or "step")]
        + ([one_line(name, 80)] if name else [])
    )
    duration = step.get("duration_ms")
    suffix = format_duration_ms(duration) if duration is not None else "running"
    if step.get("status") == "error":
        suffix += " · failed"
    return f"<p>{escape(f'Step {label} · {suffix}')}</p>"


def _running_card(run: Record, steps: Sequence[Record], now: datetime) -> str:
    run_id = str(run.get("id") or "")
    task = one_line(run.get("task") or "(no task)", 100)
    details = [run.get("source"), run.get("model_used") or run.get("model_requested")]
    caption = (
        " · ".join(one_line(d, 40) for d in details if d)
        + f" · {int(run.get('step_count') or 0)} steps · {run_id}"
    )
    elapsed = format_duration_ms(run_duration_ms(dict(run), now))
    return (
        f'<div class="card"><p>{status_html("running")} · {page_link("run", {"run": run_id}, task)}'
        f"</p>{_figures([('Elapsed', elapsed)])}"
        f'<p class="note">{escape(caption)}</p>'
        + "".join(_step_line(step) for step in steps)
        + "</div>"
    )


def live_preview(
    running: Sequence[Record],
    running_total: int,
    latest_steps: Mapping[str, Sequence[Record]],
    finished: Sequence[Record],
    now: datetime | None = None,
) -> str:
    """Running agents (each a card: a link, elapsed, latest steps) and just finished runs."""
    current = now or datetime.now(UTC)
    parts = [f'<p class="note">{running_total} running · updated {current:%H:%M:%S} UTC</p>']
    if not running:
        parts.append(_message("No agent is running right now."))
    for run in running:
        parts.append(_running_card(run, latest_steps.get(str(run.get("id"))) or (), current))
    ready = [READY_METRIC]
    if finished:
        parts.append("<h4>Just finished</h4>")
        parts.append(runs_table([dict(r) for r in finished], current, FINISHED_COLUMNS))
        ready.append(READY_GRID)
    return frame("Live", "".join(parts), *ready)


# --- stats ----------------------------------------------------------------------------
def _counts(title: str, label: str, counts: Mapping[str, Any]) -> str:
    ranked = sorted(counts.items(), key=lambda kv: (-int(kv[1] or 0), str(kv[0])))
    rows = [[escape(one_line(k, 60)), escape(f"{int(v or 0):,}")] for k, v in ranked[:20]]
    return f"<div><h4>{escape(title)}</h4>{_table([label, 'Runs'], rows, {1})}</div>"


def _over_time(bucket: str, over_time: Sequence[Record]) -> str:
    by_bucket: dict[str, dict[str, int]] = {}
    for point in over_time:
        counts = by_bucket.setdefault(str(point.get("bucket") or ""), {})
        status = str(point.get("status") or "")
        counts[status] = counts.get(status, 0) + int(point.get("runs") or 0)
    statuses = sorted({s for counts in by_bucket.values() for s in counts})
    latest = sorted(by_bucket)[-BUCKETS_SHOWN:]
    rows = [
        [escape(format_time(b)[: 16 if bucket == "hour" else 10])]
        + [escape(f"{by_bucket[b].get(s, 0):,}") for s in statuses]
        for b in reversed(latest)
    ]
    columns = [bucket.capitalize(), *statuses]
    table = _table(columns, rows, set(range(1, len(columns))))
    return f"<div><h4>Runs per {escape(bucket)}, by status</h4>{table}</div>"


def stats_preview(stats: Record, bucket: str) -> str:
    """The stats' figures, then what the charts show as tables."""
    if not stats.get("total_runs"):
        return frame("Stats", _message("No agent runs recorded yet."), READY_CHART)
    tools = tool_rows(list(stats.get("top_tools") or []))
    tools_table = (
        _table(TOOL_COLUMNS, [[escape(t[c]) for c in TOOL_COLUMNS] for t in tools], {1, 2, 3, 4})
        if tools
        else '<p class="note">No tool calls recorded.</p>'
    )
    body = (
        _figures(headline_figures(stats))
        + '<div class="cols">'
        + _over_time(bucket, list(stats.get("runs_over_time") or []))
        + f"<div><h4>Top tools</h4>{tools_table}</div>"
        + _counts("Runs by source", "Source", stats.get("by_source") or {})
        + _counts("Runs by model", "Model", stats.get("by_model") or {})
        + "</div>"
    )
    return frame("Stats", body, READY_CHART)


def _cost_table(title: str, label: str, costs: Mapping[str, Any]) -> str:
    ranked = sorted(costs.items(), key=lambda kv: (-float(kv[1] or 0), str(kv[0])))
    rows = [[escape(one_line(k, 60)), escape(format_cost(v) or "–")] for k, v in ranked[:20]]
    return f"<div><h4>{escape(title)}</h4>{_table([label, 'Cost'], rows, {1})}</div>"


def costs_preview(costs: Record) -> str:
    """The costs view: its figures, then cost by model and by agent as tables."""
    body = _figures(cost_figures(costs))
    if not costs.get("total_usd"):
        body += _message(
            "No cost yet: every priced run used a local model (priced at 0) or no tokens."
        )
        return frame("Stats", body, READY_CHART)
    body += (
        '<div class="cols">'
        + _cost_table("Cost by model", "Model", costs.get("by_model") or {})
        + _cost_table("Cost by agent", "Agent", costs.get("by_agent") or {})
        + "</div>"
    )
    return frame("Stats", body, READY_CHART)


# --- SQL ------------------------------------------------------------------------------
def sql_preview() -> str:
    """The SQL page as it opens: examples box, the editor with its first query, the
    row limit and the run button. Nothing is run."""

    def field(label: str, box: str, cls: str = "box") -> str:
        return (
            f'<div class="field"><div class="label">{escape(label)}</div>'
            f'<div class="{cls}">{box}</div></div>'
        )

    body = (
        field("Example queries", escape(EXAMPLES_PLACEHOLDER))
        + field(EDITOR_LABEL, escape(FIRST_QUERY), "box editor")
        + '<div class="cols">'
        + '<div class="field"><span class="button">▶ Run query</span></div>'
        + field("Row limit", escape(f"{ROW_LIMIT}"))
        + "</div>"
    )
    return frame("SQL", body, READY_FORM)
