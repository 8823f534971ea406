"""A page's content as plain HTML, drawn by the browser before Streamlit's app is.

A new tab of a Streamlit page shows nothing of its own until ~3 MB of JavaScript
has run, the websocket has opened and the page's script has sent its elements
(1-2.5 s here). So the page document itself carries a preview of its page: the
first page of runs, a run's header and steps (here), a comparison, the live
runs, the stats, the SQL editor (dashboard/preview_pages.py), as plain HTML. It
covers the window until Streamlit has drawn the same content, then removes itself
(``_SWAP_SCRIPT``), so the reader never sees an empty frame in between.

The preview is a picture of the page, never a second copy of it:

- its content lives in a closed shadow root (declarative: ``<template
  shadowrootmode="closed">``), so ``document.querySelector``, ``innerText``, the
  browser's find-in-page and a test's text or role selectors do not see it;
- while scripts run, the host is ``aria-hidden`` and the sheet in it that holds
  the shadow root ``inert`` (its script sets both the moment it is parsed):
  nothing in it is in the accessibility tree, focusable or selectable, and a
  click lands on the host, which covers the window, and does nothing (the live
  page's rows are a moment away). Without JavaScript, Streamlit never starts and
  the preview is the page: its links (a run, a step of a run) are ordinary
  ``<a href>`` to those pages' documents, which carry their own preview, so the
  stored runs can be read without scripts;
- it is shown only when it arrives before Streamlit has drawn its first element
  (a late preview removes itself before it is ever painted).

Every stored value is untrusted: each one passes through :func:`html.escape`
(quotes included) before it becomes part of the markup; a link is a relative
path to one of the dashboard's pages with URL-quoted values (:func:`page_link`).
The script is a constant: no stored value ever reaches it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from dashboard.formatting import (
    STATUS_COLORS,
    STATUS_EXPLANATIONS,
    STEP_STATUS_ICONS,
    format_cost,
    format_duration_ms,
    format_relative,
    format_time,
    one_line,
    run_duration_ms,
    status_badge,
)

__all__ = [
    "PREVIEW_ID",
    "RUN_COLUMNS",
    "SHEET_ID",
    "READY_CHART",
    "READY_FORM",
    "READY_GRID",
    "READY_METRIC",
    "READY_SCRIPT",
    "READY_TREE",
    "escape",
    "frame",
    "page_link",
    "run_preview",
    "runs_preview",
    "runs_table",
    "status_html",
]

PREVIEW_ID = "page-preview"  # covers the window; a click on the preview lands on it
SHEET_ID = "page-preview-sheet"  # holds the content in its closed shadow root
# What the swap script waits for before it removes the preview (data-ready):
READY_GRID = "grid"  # the runs table's rows drawn on its canvas
READY_TREE = "tree"  # the span tree's rows
READY_CHART = "chart"  # a chart drawn (Vega's canvas or svg)
READY_METRIC = "metric"  # a metric (st.metric) drawn
READY_FORM = "form"  # a text area (the SQL editor) drawn
READY_SCRIPT = "script"  # the page's script run has ended
# data-ready may list several (space-separated): all of them must be drawn. Any of
# them is also met by a message (st.info, st.error...) where the page shows one instead.
STEPS_SHOWN = 40  # a long run's preview lists its first steps; the tree shows them all

_STATUS_TINT = {
    "blue": "#1c83e1",
    "green": "#21c354",
    "red": "#ff4b4b",
    "orange": "#ffa421",
    "gray": "#808495",
    "violet": "#803df5",
}


def escape(value: object) -> str:
    """Any value as HTML text: escaped, quotes included (also safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


_e = escape


def page_link(page: str, params: Mapping[str, object], text: object) -> str:
    """``<a>`` to one of the dashboard's pages (``run``, ``compare``), relative to this
    one (pages are siblings, whatever path the dashboard is served under)."""
    query = urlencode({name: str(value) for name, value in params.items()})
    return f'<a href="{_e(page)}?{_e(query)}">{_e(text)}</a>'


def status_html(status: object) -> str:
    """A run's status badge in its colour."""
    return _status(status)


def _status(status: object) -> str:
    tint = _STATUS_TINT.get(STATUS_COLORS.get(str(status or ""), "gray"), "#808495")
    return f'<span class="status" style="color:{tint}">{_e(status_badge(str(status or "")))}</span>'


def _started(value: object, now: datetime) -> str:
    utc = format_time(value)
    relative = format_relative(value, now)
    shown = f"{utc[5:16]} · {relative}" if relative and len(utc) >= 16 else utc
    return _e(shown)


def _tokens(run: dict[str, Any]) -> str:
    tokens = int(run.get("input_tokens") or 0) + int(run.get("output_tokens") or 0)
    return f"{tokens:,}" if tokens else ""


def _run_link(run: dict[str, Any], text: str, **extra: object) -> str:
    return page_link("run", {"run": run.get("id") or "", **extra}, text)


def _run_cells(run: dict[str, Any], now: datetime) -> dict[str, str]:
    """A run's cells by column name (:data:`RUN_COLUMNS`), as HTML."""
    task = str(run.get("task") or "(no task)")
    tool_calls = run.get("tool_calls")
    model = run.get("model_used") or run.get("model_requested") or ""
    return {
        "Status": _status(run.get("status")),
        "Started (UTC)": _started(run.get("started_at"), now),
        "Duration": _e(format_duration_ms(run_duration_ms(run, now))),
        "Agent": _e(one_line(run.get("agent_name") or "", 40)),
        "Task": _run_link(run, one_line(task, 160)),
        "Steps": _e(int(run.get("step_count") or run.get("total_steps") or 0)),
        "Tool calls": _e(tool_calls if tool_calls is not None else ""),
        "Tokens": _e(_tokens(run)),
        "Cost": _e(format_cost(run.get("cost_usd"))),
        "Model": _e(one_line(model, 40)),
        "Error": _e(one_line(run.get("error") or "", 120)),
    }


# The runs list's columns and their classes (``wide``: hidden at phone width).
RUN_COLUMNS: dict[str, str] = {
    "Status": "",
    "Started (UTC)": "",
    "Duration": "wide",
    "Agent": "wide",
    "Task": "task",
    "Steps": "wide num",
    "Tool calls": "wide num",
    "Tokens": "wide num",
    "Cost": "wide",
    "Model": "wide",
    "Error": "wide",
}


def runs_table(
    runs: Sequence[dict[str, Any]], now: datetime, columns: Sequence[str] = tuple(RUN_COLUMNS)
) -> str:
    """Runs as the runs list's table (``columns`` of :data:`RUN_COLUMNS`, in that order):
    each task a link to its run."""

    def attribute(name: str) -> str:
        return f' class="{RUN_COLUMNS[name]}"' if RUN_COLUMNS[name] else ""

    head = "".join(f"<th{attribute(name)}>{_e(name)}</th>" for name in columns)
    rows = []
    for run in runs:
        cells = _run_cells(run, now)
        rows.append("<tr>" + "".join(f"<td{attribute(n)}>{cells[n]}</td>" for n in columns))
    body = "</tr>".join(rows) + ("</tr>" if rows else "")
    return f'<table class="runs"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def runs_preview(runs: Sequence[dict[str, Any]], total: int, now: datetime | None = None) -> str:
    """The runs list's first page as a table."""
    current = now or datetime.now(UTC)
    if not runs:
        return frame("Agent runs", "<p>No runs match.</p>", READY_SCRIPT)
    body = f'<p class="note">Runs 1–{len(runs)} of {total:,}</p>' + runs_table(runs, current)
    return frame("Agent runs", body, READY_GRID)


def run_preview(
    run: dict[str, Any], steps: Sequence[dict[str, Any]], now: datetime | None = None
) -> str:
    """A run's header (task, status, figures, error) and its first steps."""
    current = now or datetime.now(UTC)
    status = str(run.get("status") or "")
    parts = [f"<h2>{_e(one_line(run.get('task') or '(no task)', 160))}</h2>"]
    parts.append(f"<p>{_status(status)}</p>")
    if status in ("max_steps", "lost", "cancelled"):
        parts.append(f'<p class="note">{_e(STATUS_EXPLANATIONS[status])}</p>')
    tokens_in, tokens_out = run.get("input_tokens"), run.get("output_tokens")
    tokens = f"{tokens_in or 0:,} / {tokens_out or 0:,}" if tokens_in or tokens_out else "–"
    figures = [
        ("Duration", format_duration_ms(run_duration_ms(run, current))),
        ("Steps", int(run.get("step_count") or len(steps))),
        ("Failed steps", sum(1 for s in steps if s.get("status") == "error")),
        ("Tokens in / out", tokens),
        ("Cost", format_cost(run.get("cost_usd")) or "–"),
        ("Started", format_time(run.get("started_at"))),
        ("Agent", one_line(run.get("agent_name") or "–", 60)),
        ("Model", one_line(run.get("model_used") or run.get("model_requested") or "–", 60)),
    ]
    shown = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in figures)
    parts.append(f'<dl class="figures">{shown}</dl>')
    if run.get("error"):
        parts.append(f'<pre class="error">{_e(one_line(run.get("error"), 600))}</pre>')
    if steps:
        rows = "".join(_step_row(run, step) for step in steps[:STEPS_SHOWN])
        parts.append(f"<h3>Steps ({len(steps)})</h3>")
        parts.append(
            '<table class="steps"><thead><tr><th class="num">#</th><th></th><th>Kind</th>'
            '<th>Tool or model</th><th class="num">Duration</th><th class="wide">Error</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>"
        )
        if len(steps) > STEPS_SHOWN:
            parts.append(f'<p class="note">… and {len(steps) - STEPS_SHOWN:,} more steps.</p>')
    return frame(None, "".join(parts), READY_TREE if steps else READY_SCRIPT)


def _step_row(run: dict[str, Any], step: dict[str, Any]) -> str:
    icon = STEP_STATUS_ICONS.get(str(step.get("status")), "·")
    name = one_line(step.get("tool_name") or step.get("model") or "", 80)
    duration = step.get("duration_ms")
    took = format_duration_ms(duration) if duration is not None else "running"
    return (
        f'<tr><td class="num">{_e(step.get("step_number"))}</td>'
        f"<td>{_e(icon)}</td><td>{_e(step.get('action_type') or 'step')}</td>"
        f"<td>{_run_link(run, name or '–', step=step.get('step_number'))}</td>"
        f'<td class="num">{_e(took)}</td>'
        f'<td class="wide">{_e(one_line(step.get("error") or "", 120))}</td></tr>'
    )


def frame(title: str | None, body: str, *ready: str) -> str:
    """The preview: a hidden-from-scripts host, its content, and the swap script.

    ``ready``: what Streamlit must have drawn before the preview gives way (READY_*).
    """
    heading = f"<h1>{_e(title)}</h1>" if title else ""
    return (
        f'<div id="{PREVIEW_ID}" data-ready="{_e(" ".join(ready))}" style="{_HOST_STYLE}">'
        f'<div id="{SHEET_ID}"><template shadowrootmode="closed"><style>{_CSS}</style>'
        f'<main class="page">{heading}{body}<noscript><p class="note">A still view of the '
        "stored runs: the live dashboard needs JavaScript.</p></noscript></main></template>"
        f"</div></div><script>{_SWAP_SCRIPT}</script>"
    )


# On the host itself (outside the shadow root), so it covers the window even where a
# browser does not attach declarative shadow roots (it then shows an empty sheet that
# the swap script removes like the preview).
_HOST_STYLE = "position:fixed;inset:0;z-index:1000000;overflow:auto"
_CSS = (
    ":host{display:block;min-height:100%;background:#fff;color:#31333f;"
    'font:15px/1.45 "Source Sans",ui-sans-serif,system-ui,sans-serif}'
    ".page{max-width:1400px;margin:0 auto;padding:3.5rem 1rem 2rem}"
    "h1{font-size:2.2rem;margin:0 0 1rem;font-weight:700}"
    "h2{font-size:1.6rem;margin:.6rem 0;font-weight:600;overflow-wrap:anywhere}"
    "h3{font-size:1.2rem;margin:1.2rem 0 .4rem}"
    "table{border-collapse:collapse;width:100%;font-size:14px}"
    "th,td{text-align:left;padding:6px 8px;"
    "border-bottom:1px solid rgba(128,128,128,.25);vertical-align:top}"
    "td.task{max-width:30rem;overflow-wrap:anywhere}"
    ".num{text-align:right}"
    ".note{color:#808495;margin:.3rem 0}"
    ".status{white-space:nowrap;font-weight:600}"
    ".figures{display:flex;flex-wrap:wrap;gap:.5rem 2rem;margin:.8rem 0}"
    "dt{font-size:13px;color:#808495}"
    "dd{margin:0;font-size:1.2rem}"
    "pre.error{white-space:pre-wrap;overflow-wrap:anywhere;"
    "background:rgba(255,75,75,.1);padding:.6rem;border-radius:.4rem}"
    "td{overflow-wrap:anywhere}"
    ".scroll td{overflow-wrap:normal}.scroll td:first-child{white-space:nowrap}"
    "a{color:#0b63c5;text-decoration:none}a:hover{text-decoration:underline}"
    "h4{font-size:1.05rem;margin:1rem 0 .4rem}"
    ".scroll{overflow-x:auto}"
    ".cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,24rem),1fr));"
    "gap:.5rem 2rem}"
    ".card{border:1px solid rgba(128,128,128,.3);border-radius:.5rem;padding:.6rem .9rem;"
    "margin:.6rem 0}"
    ".card p{margin:.2rem 0}"
    ".differs{background:rgba(255,164,33,.28)}"
    ".only{background:rgba(128,132,149,.22)}"
    ".field{margin:.6rem 0}"
    ".label{font-size:14px;margin-bottom:.25rem}"
    ".box{border:1px solid rgba(128,128,128,.35);border-radius:.5rem;padding:.5rem .75rem;"
    "min-height:1.4rem;color:#808495}"
    ".editor{white-space:pre-wrap;overflow-wrap:anywhere;color:inherit;"
    "font:13px/1.5 ui-monospace,SFMono-Regular,Menlo,monospace;min-height:9rem}"
    ".button{display:inline-block;padding:.4rem .9rem;border-radius:.5rem;"
    "background:#ff4b4b;color:#fff}"
    "@media (prefers-color-scheme: dark){:host{background:#0e1117;color:#fafafa}"
    "a{color:#7cb7ff}}"
    "@media (max-width: 640px){.wide{display:none}h1{font-size:1.6rem}}"
)

# Runs where the preview is parsed. A preview that comes after Streamlit has drawn its
# first element (its script has run and a container holds something other than the
# loading skeleton shown before its websocket opens) goes at once, before it is
# painted. Otherwise it stays until Streamlit has drawn the page's own content, each
# kind data-ready names: a table's first row on its canvas (a table hidden by the
# phone layout does not count; no table but a message, such as an error, does); the
# span tree's rows; a chart; a metric; the SQL editor (the last three: or a message in
# their place); else the end of the page's script run. Content drawn counts even while
# the script still runs (a live page's fragments rerun every second or two). After 15 s
# of a finished script run without that content (the page showed something else, or a
# busy machine), it gives way anyway.
_SWAP_SCRIPT = (
    "(function(){"
    f'var p=document.getElementById("{PREVIEW_ID}");if(!p)return;'
    # Only while scripts run is it a picture: hidden from assistive technology, its
    # sheet inert (a click lands on the host, which covers the window, and does nothing).
    f'document.getElementById("{SHEET_ID}").inert=true;p.setAttribute("aria-hidden","true");'
    'var modes=(p.getAttribute("data-ready")||"").split(" "),ended=0;'
    'var st=(document.querySelector("[data-testid=stApp]")||p).getAttribute('
    '"data-test-script-state");'
    "if((st==='running'||st==='notRunning')&&[].some.call(document.querySelectorAll("
    "'[data-testid=stMain] [data-testid=stElementContainer]'),function(e){"
    "return e.firstElementChild&&!e.querySelector('[data-testid=stAppSkeleton]');}))"
    "{p.remove();return;}"
    "function painted(c){if(!c.width||!c.height)return false;"
    "var d=window.devicePixelRatio||1,y=Math.min(c.height-1,Math.round(52*d)),"
    'px=c.getContext("2d").getImageData(0,y,c.width,1).data,seen={},n=0;'
    "for(var i=0;i<px.length;i+=4){var k=px[i]+','+px[i+1]+','+px[i+2]+','+px[i+3];"
    "if(!seen[k]){seen[k]=1;if(++n>8)return true;}}return false;}"
    "function grid(){"
    'var all=document.querySelectorAll("[data-testid=stDataFrame]");'
    "if(!all.length)return !!document.querySelector("
    "'[data-testid=stAlert],[data-testid=stException]');"
    "var t=[].filter.call(all,function(f){return f.offsetParent;});"
    "if(!t.length)return true;"
    "return t.every(function(f){return [].some.call(f.querySelectorAll('canvas'),painted);});}"
    "function tree(){var all=document.querySelectorAll('*');"
    "for(var i=0;i<all.length;i++){var r=all[i].shadowRoot;"
    "if(r&&r.querySelector('.tree .row'))return true;}"
    "return !!document.querySelector('.tree .row');}"
    "function alerted(){return !!document.querySelector("
    "'[data-testid=stAlert],[data-testid=stException]');}"
    "function shown(s){return [].some.call(document.querySelectorAll(s),function(e){"
    "var r=e.getBoundingClientRect();return r.width>0&&r.height>0;});}"
    "function met(m){"
    'if(m==="grid")return grid();if(m==="tree")return tree();'
    "if(m==='chart')return shown('.vega-embed canvas,.vega-embed svg')||alerted();"
    "if(m==='metric')return shown('[data-testid=stMetric]')||alerted();"
    "if(m==='form')return shown('[data-testid=stMain] textarea')||alerted();"
    "return false;}"
    "function done(){"
    "if(modes.every(met))return true;"
    'var app=document.querySelector("[data-testid=stApp]");'
    'if(!app||app.getAttribute("data-test-script-state")!=="notRunning")return false;'
    "if(!ended)ended=performance.now();"
    'return modes.indexOf("script")>=0||performance.now()-ended>15000;}'
    "function check(){if(done()){p.remove();return;}requestAnimationFrame(check);}"
    "requestAnimationFrame(check);"
    "})();"
)
