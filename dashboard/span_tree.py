"""One run's steps as a tree on a shared time axis: what the span-tree component draws.

Pure functions: steps (and sub-agent runs) in, rows out. A step whose parent span
is another step of the run (a tool call inside an LLM turn) is drawn under it;
everything else hangs from the run. Each row carries its offset and length on the
run's time axis, so the tree doubles as the waterfall.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dashboard.formatting import format_duration_ms, one_line, parse_time
from dashboard.json_reading import NOT_JSON, parse_json

__all__ = [
    "KIND_ICONS",
    "TreeLayout",
    "TreeRow",
    "build_tree",
    "filter_tree",
    "step_kind",
    "step_preview",
    "step_search_text",
]

# Kind -> the glyph the tree and the detail pane show; colours live in the component's CSS.
KIND_ICONS: dict[str, str] = {
    "llm": "✦",
    "tool": "⚙",
    "response": "↩",
    "terminate": "■",
    "agent": "◎",
    "step": "•",
}
PREVIEW_CHARS = 90


@dataclass(frozen=True)
class TreeRow:
    """One line of the tree, in display order (parents before their children)."""

    key: str  # the step id, or "run:<id>" for a sub-agent run
    number: int | None  # step_number; None for a sub-agent run
    parent: str | None
    depth: int
    kind: str  # llm, tool, response, terminate, agent, step
    failed: bool
    running: bool
    title: str
    preview: str
    start_pct: float  # offset on the run's time axis, 0..100
    width_pct: float
    duration: str
    has_children: bool = False

    def to_json(self) -> dict[str, Any]:
        """The row as the component's JavaScript reads it."""
        return asdict(self)


@dataclass(frozen=True)
class TreeLayout:
    """The rows of the tree and the length of the shared time axis."""

    rows: list[TreeRow]
    span_ms: float

    def ticks(self, count: int = 5) -> list[str]:
        """Labels under the axis: ``0``, a quarter, half ... of the whole run."""
        return [
            "0" if i == 0 else format_duration_ms(self.span_ms * i / (count - 1))
            for i in range(count)
        ]


def step_kind(step: dict[str, Any]) -> str:
    """``llm`` for a model call, ``tool`` for a tool call, then response/terminate."""
    action = str(step.get("action_type") or "")
    if action == "tool_call" or (step.get("tool_name") and action not in ("think", "response")):
        return "tool"
    if action == "think" or step.get("model") or step.get("input_tokens") is not None:
        return "llm"
    if action in ("response", "terminate"):
        return action
    return "step"


def _compact(value: object) -> str:
    if isinstance(value, str):
        text = value
        value = parse_json(text)
        if value is NOT_JSON:
            return text
    if isinstance(value, dict):
        return ", ".join(f"{k}={_compact_scalar(v)}" for k, v in value.items())
    return _compact_scalar(value)


def _compact_scalar(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def step_preview(step: dict[str, Any], max_chars: int = PREVIEW_CHARS) -> str:
    """What the step did in one line: ``(path=/) → 42% used``, the error, or tokens."""
    kind = step_kind(step)
    if step.get("error"):
        return one_line(f"✗ {step['error']}", max_chars)
    parts: list[str] = []
    if kind == "tool" and step.get("command"):
        parts.append(f"$ {step['command']}")  # the command it ran on a server says it all
    elif kind == "tool":
        args = step.get("tool_args")
        if args not in (None, "", {}, []):
            parts.append(f"({_compact(args)})")
    if kind == "llm":
        if step.get("input_tokens") is not None or step.get("output_tokens") is not None:
            parts.append(f"{step.get('input_tokens') or 0}→{step.get('output_tokens') or 0} tok")
        if step.get("thinking"):
            parts.append(str(step["thinking"]))
    result = step.get("tool_result")
    if result not in (None, ""):
        parts.append(f"→ {result}")
    return one_line(" ".join(parts), max_chars)


def step_search_text(step: dict[str, Any]) -> str:
    """Everything a search within the run looks at, lower-cased."""
    fields = (
        "action_type",
        "tool_name",
        "model",
        "tool_result",
        "thinking",
        "error",
        "name",
        "command",
        "command_host",
    )
    text = " ".join(str(step.get(f) or "") for f in fields)
    args = step.get("tool_args")
    if args not in (None, ""):
        text += " " + (args if isinstance(args, str) else json.dumps(args, ensure_ascii=False))
    return text.lower()


def _title(step: dict[str, Any], kind: str) -> str:
    if kind == "tool":
        return one_line(step.get("tool_name") or "tool", 60)
    if kind == "llm":
        return one_line(step.get("model") or step.get("name") or "model call", 60)
    return one_line(step.get("action_type") or step.get("name") or "step", 60)


@dataclass(frozen=True)
class _Timed:
    start: datetime | None
    end: datetime | None


def _times(record: dict[str, Any], now: datetime) -> _Timed:
    start = parse_time(record.get("started_at"))
    if start is None:
        return _Timed(None, None)
    duration = record.get("duration_ms")
    if duration is None:
        end = parse_time(record.get("completed_at")) or now
        return _Timed(start, max(end, start))
    return _Timed(start, start + timedelta(milliseconds=float(duration)))


def build_tree(
    run: dict[str, Any],
    steps: Sequence[dict[str, Any]],
    sub_runs: Sequence[dict[str, Any]] = (),
    now: datetime | None = None,
    sub_run_steps: Mapping[str, str] | None = None,
) -> TreeLayout:
    """Rows for ``steps`` (nested by parent span) and ``sub_runs``, depth-first in time order.

    ``sub_run_steps`` maps a sub-run's id to the id of the step it runs under
    (dashboard/views/sub_run_steps.py); a sub-run without one is a top-level row."""
    current = now or datetime.now(UTC)
    timed = {id(s): _times(s, current) for s in [*steps, *sub_runs]}
    run_times = _times(run, current)
    starts = [t.start for t in timed.values() if t.start is not None]
    ends = [t.end for t in timed.values() if t.end is not None]
    origin = run_times.start or (min(starts) if starts else current)
    finish = max([*ends, *([run_times.end] if run_times.end else [])], default=origin)
    span_s = max((finish - origin).total_seconds(), 1e-3)

    by_span = {str(s.get("span_id")): str(s.get("id")) for s in steps if s.get("span_id")}
    nodes: list[tuple[str, str | None, dict[str, Any], bool]] = []  # key, parent, record, is_run
    for step in steps:
        parent_span = step.get("parent_span_id")
        parent = by_span.get(str(parent_span)) if parent_span else None
        key = str(step.get("id"))
        nodes.append((key, parent if parent != key else None, step, False))
    step_keys = {str(s.get("id")) for s in steps}
    for child in sub_runs:
        calling = (sub_run_steps or {}).get(str(child.get("id")))
        nodes.append(
            (f"run:{child.get('id')}", calling if calling in step_keys else None, child, True)
        )

    children: dict[str | None, list[tuple[str, str | None, dict[str, Any], bool]]] = {}
    for node in nodes:
        children.setdefault(node[1], []).append(node)

    def order(node: tuple[str, str | None, dict[str, Any], bool]) -> tuple[datetime, int]:
        start = timed[id(node[2])].start or finish
        return start, int(node[2].get("step_number") or 0)

    rows: list[TreeRow] = []
    seen: set[str] = set()

    def visit(parent: str | None, depth: int) -> None:
        for key, _, record, is_run in sorted(children.get(parent, []), key=order):
            if key in seen:  # a parent cycle in bad data: draw each step once
                continue
            seen.add(key)
            rows.append(_row(key, parent, depth, record, is_run, timed[id(record)]))
            visit(key, depth + 1)

    def _row(
        key: str, parent: str | None, depth: int, rec: dict[str, Any], is_run: bool, t: _Timed
    ) -> TreeRow:
        start_pct = width_pct = 0.0
        if t.start is not None and t.end is not None:
            start_pct = max((t.start - origin).total_seconds() / span_s * 100, 0.0)
            width_pct = max((t.end - t.start).total_seconds() / span_s * 100, 0.4)
            width_pct = min(width_pct, max(100.0 - start_pct, 0.4))
        status = str(rec.get("status") or "")
        running = status == "running"
        duration = rec.get("duration_ms")
        if is_run:
            return TreeRow(
                key=key,
                number=None,
                parent=parent,
                depth=depth,
                kind="agent",
                failed=status in ("failed", "lost"),
                running=running,
                title=one_line(rec.get("agent_name") or "sub-agent", 60),
                preview=one_line(f"{status} · {rec.get('task') or ''}", PREVIEW_CHARS),
                start_pct=round(start_pct, 3),
                width_pct=round(width_pct, 3),
                duration=format_duration_ms(duration) if duration is not None else "running",
            )
        kind = step_kind(rec)
        return TreeRow(
            key=key,
            number=int(rec["step_number"]) if rec.get("step_number") is not None else None,
            parent=parent,
            depth=depth,
            kind=kind,
            failed=status == "error" or bool(rec.get("error")),
            running=running,
            title=_title(rec, kind),
            preview=step_preview(rec),
            start_pct=round(start_pct, 3),
            width_pct=round(width_pct, 3),
            duration=format_duration_ms(duration) if duration is not None else "running",
        )

    visit(None, 0)
    # Orphans whose parent chain loops back on itself were never reached from the root.
    for key, _, record, is_run in sorted(nodes, key=order):
        if key not in seen:
            seen.add(key)
            rows.append(_row(key, None, 0, record, is_run, timed[id(record)]))
            visit(key, 1)
    parents = {r.parent for r in rows if r.parent is not None}
    marked = [
        TreeRow(**{**asdict(r), "has_children": True}) if r.key in parents else r for r in rows
    ]
    return TreeLayout(rows=marked, span_ms=span_s * 1000)


def filter_tree(
    rows: Sequence[TreeRow],
    steps_by_key: dict[str, dict[str, Any]],
    *,
    query: str = "",
    errors_only: bool = False,
) -> list[TreeRow]:
    """Rows matching ``query`` (any field of the step) and/or failed, with their ancestors."""
    needle = query.strip().lower()
    if not needle and not errors_only:
        return list(rows)
    by_key = {r.key: r for r in rows}
    keep: set[str] = set()
    for row in rows:
        record = steps_by_key.get(row.key, {})
        text = step_search_text(record) + " " + row.title.lower() + " " + row.preview.lower()
        if needle and needle not in text:
            continue
        if errors_only and not row.failed:
            continue
        key: str | None = row.key
        while key is not None and key not in keep:
            keep.add(key)
            key = by_key[key].parent if key in by_key else None
    return [r for r in rows if r.key in keep]
