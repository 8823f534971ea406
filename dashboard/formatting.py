"""Pure formatting of runs and steps for display: badges, durations, times, folding.

Nothing here touches Streamlit or the network, so all of it is testable as plain
functions. Stored values are untrusted: ``visible_text`` makes control characters
visible and ``escape_markdown`` makes text safe to place inside Markdown.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dashboard.json_reading import NOT_JSON, parse_json
from instrumentation.attributes import RunStatus, StepStatus

__all__ = [
    "STATUS_BADGES",
    "STATUS_COLORS",
    "STATUS_EXPLANATIONS",
    "code_span",
    "format_cost",
    "Folded",
    "escape_markdown",
    "fold_text",
    "format_duration_ms",
    "format_local_time",
    "format_relative",
    "format_time",
    "one_line",
    "parse_time",
    "pretty_json",
    "run_duration_ms",
    "status_badge",
    "visible_json",
    "visible_text",
]

# Status -> the badge shown in tables and headers (the seed's ✓ ✗ ⟳ and the rest).
_STATUS_MARKS: dict[RunStatus, str] = {
    RunStatus.RUNNING: "⟳",
    RunStatus.COMPLETED: "✓",
    RunStatus.FAILED: "✗",
    RunStatus.MAX_STEPS: "⚠",
    RunStatus.CANCELLED: "⊘",
    RunStatus.LOST: "?",
}
STATUS_BADGES: dict[str, str] = {s.value: f"{mark} {s.value}" for s, mark in _STATUS_MARKS.items()}

# Status -> colour name understood by st.badge, and used for charts.
STATUS_COLORS: dict[str, str] = {
    RunStatus.RUNNING.value: "blue",
    RunStatus.COMPLETED.value: "green",
    RunStatus.FAILED.value: "red",
    RunStatus.MAX_STEPS.value: "orange",
    RunStatus.CANCELLED.value: "gray",
    RunStatus.LOST.value: "violet",
}

# What a status means, in words, wherever it appears (header, list tooltip, compare).
STATUS_EXPLANATIONS: dict[str, str] = {
    "running": "The agent is still working; the page follows it.",
    "completed": "The agent finished and gave a final answer.",
    "failed": "The run stopped on an error; the failed step is named below.",
    "max_steps": (
        "The agent used up its step budget (max_steps) before it reached an answer: "
        "it was stopped, not broken. Raise max_steps or look at why it kept looping."
    ),
    "cancelled": "Someone asked the agent to stop (a cancel request) and it stopped.",
    "lost": (
        "Stalled: the collector heard nothing from this run for longer than the lost-after "
        "limit (AGENT_AUDIT_LOST_AFTER_S), so its process probably died or hung."
    ),
}

STEP_STATUS_ICONS: dict[str, str] = {
    StepStatus.RUNNING.value: "⟳",
    StepStatus.OK.value: "✓",
    StepStatus.ERROR.value: "✗",
}

# Characters a reader cannot see but that change what is seen: C0/C1 controls (not tab or
# newline), bidi embeddings, overrides and isolates that reorder a line (Trojan Source,
# CVE-2021-42574), direction marks, zero-width spaces and word joiners (the zero-width
# joiner builds emoji and stays), line separators, and lone surrogates (no page encodes them).
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e"
    "\u2060\u2066-\u2069\ufeff\ud800-\udfff]"
)
# Every ASCII punctuation character may be backslash-escaped in CommonMark; these are
# the ones Markdown, Streamlit's directives (:red[..]), emoji codes and LaTeX ($) use.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=\"'^])")
_WWW = re.compile(r"www", re.IGNORECASE)


def status_badge(status: str | None) -> str:
    """``"✓ completed"`` for a known status; unknown ones are shown as they are."""
    if not status:
        return "· unknown"
    return STATUS_BADGES.get(status, f"· {visible_text(status)}")


def visible_text(text: object) -> str:
    """``str(text)`` with control characters (ANSI escapes, NUL) shown as ``\\x1b`` and
    bidi overrides, zero-width and other invisible format characters as ``\\u202e``."""
    value = "" if text is None else str(text)
    return _CONTROL.sub(_shown, value)


def visible_json(value: object) -> object:
    """``value`` (parsed JSON) for ``st.json``: every string in it, keys included, shown
    as :func:`visible_text` shows text. Two keys that read alike once shown stay apart."""
    if isinstance(value, str):
        return visible_text(value)
    if isinstance(value, list | tuple):
        return [visible_json(item) for item in value]
    if isinstance(value, dict):
        shown: dict[str, object] = {}
        for key, item in value.items():
            name = visible_text(key)
            while name in shown:  # "a\x00" sent as text and "a" + NUL: both kept
                name += " (again)"
            shown[name] = visible_json(item)
        return shown
    return value


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: object, max_chars: int = 200) -> str:
    """Whitespace collapsed to single spaces, cut at ``max_chars`` with an ellipsis."""
    flat = " ".join(visible_text(text).split())
    return flat if len(flat) <= max_chars else flat[: max_chars - 1] + "…"


def escape_markdown(text: object) -> str:
    """Text that renders literally inside Streamlit Markdown: no emphasis, links, HTML, LaTeX.

    Backslash escapes stop CommonMark, but Streamlit still turns bare URLs, e-mail
    addresses, ``:red[...]`` directives and ``:emoji:`` codes into markup; a
    zero-width space inside each of those patterns keeps them plain text.
    """
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", visible_text(text))
    escaped = escaped.replace(":", ":\u200b").replace("@", "\u200b@")
    return _WWW.sub(lambda m: m.group()[0] + "\u200b" + m.group()[1:], escaped)


def code_span(text: object) -> str:
    """``text`` as a Markdown inline code span (shown verbatim), fenced past any backticks."""
    value = one_line(text, 300)
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {value} {fence}"


def format_duration_ms(duration_ms: float | None) -> str:
    """``"<1 ms"``, ``"450 ms"``, ``"12.3 s"``, ``"4m 05s"``, ``"2h 03m"``; ``"–"`` when unknown."""
    if duration_ms is None:
        return "–"
    ms = max(float(duration_ms), 0.0)
    if 0 < ms < 1:
        return "<1 ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_cost(cost_usd: object) -> str:
    """``"$0.000021"``, ``"$0.0123"``, ``"$1.23"``, ``"$0"`` for free; ``""`` when unknown."""
    if cost_usd is None or cost_usd == "":
        return ""
    try:
        value = float(str(cost_usd))
    except ValueError:
        return ""
    if value == 0:
        return "$0"
    if abs(value) < 0.0001:
        # A small model's call costs millionths of a dollar: two significant digits,
        # not "$0.0000" (which reads as free). Under a hundred-millionth: its bound.
        if abs(value) < 1e-8:
            return "<$0.00000001"
        digits = 1 - math.floor(math.log10(abs(value)))
        return f"${value:.{digits}f}"
    if abs(value) < 0.01:
        return f"${value:.4f}"
    if abs(value) < 100:
        return f"${value:.2f}"
    return f"${value:,.0f}"


def parse_time(value: object) -> datetime | None:
    """An API timestamp (ISO 8601, usually ending in ``Z``) as an aware UTC datetime."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_time(value: object) -> str:
    """``"2025-01-02 13:04:05 UTC"``; ``"–"`` when missing or unreadable."""
    moment = parse_time(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "–"


def format_relative(value: object, now: datetime | None = None) -> str:
    """``"just now"``, ``"3 min ago"``, ``"5 h ago"``, ``"2 d ago"``; ``""`` when unknown."""
    moment = value if isinstance(value, datetime) else parse_time(value)
    if moment is None:
        return ""
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 0:
        return "in the future"
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{max(round(seconds / 60), 1)} min ago"
    if seconds < 86400:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} d ago"


def format_local_time(value: object, timezone: str | None, now: datetime | None = None) -> str:
    """A start time in the viewer's zone: ``"14:03:05"`` today, ``"Dec 05 14:03"`` before.

    ``timezone`` is an IANA name (the browser's); unknown or missing means UTC.
    """
    moment = parse_time(value)
    if moment is None:
        return "–"
    zone: tzinfo = UTC
    if timezone:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = UTC
    local = moment.astimezone(zone)
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    return local.strftime("%H:%M:%S" if local.date() == today else "%b %d %H:%M")


def run_duration_ms(run: dict[str, Any], now: datetime | None = None) -> float | None:
    """The run's duration; for a running run, the time since it started."""
    if run.get("duration_ms") is not None:
        return float(run["duration_ms"])
    if run.get("status") == RunStatus.RUNNING:
        started = parse_time(run.get("started_at"))
        if started is not None:
            current = now or datetime.now(UTC)
            return max((current - started).total_seconds() * 1000, 0.0)
        if run.get("elapsed_ms") is not None:
            return float(run["elapsed_ms"])
    return None


def pretty_json(value: object) -> str:
    """Indented JSON for display; text that is already JSON is re-indented."""
    if isinstance(value, str):
        parsed = parse_json(value)
        if parsed is NOT_JSON:
            return visible_text(value)
        value = parsed
    return visible_text(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False))


@dataclass(frozen=True)
class Folded:
    """A long text cut for display, with what was left out."""

    preview: str
    is_folded: bool
    total_chars: int
    total_lines: int


def fold_text(text: object, *, max_chars: int = 2000, max_lines: int = 40) -> Folded:
    """The first ``max_lines`` lines / ``max_chars`` characters of ``text``."""
    value = visible_text(text)
    lines = value.splitlines()
    preview = "\n".join(lines[:max_lines])
    if len(preview) > max_chars:
        preview = preview[:max_chars]
    folded = preview != value and len(value.rstrip("\n")) > len(preview)
    return Folded(
        preview=preview if folded else value,
        is_folded=folded,
        total_chars=len(value),
        total_lines=len(lines),
    )


def step_title(step: dict[str, Any]) -> str:
    """An expander label for a step, Markdown-escaped: ``3 ✓ tool_call docker_ps · 1.2 s``."""
    icon = STEP_STATUS_ICONS.get(str(step.get("status")), "·")
    parts = [f"{step.get('step_number', '?')}", icon, str(step.get("action_type") or "step")]
    name = step.get("tool_name") or step.get("model")
    if name:
        parts.append(one_line(name, 80))
    label = " ".join(parts)
    duration = step.get("duration_ms")
    suffix = format_duration_ms(duration) if duration is not None else "running"
    if step.get("status") == "error":
        suffix += " · failed"
    return escape_markdown(f"Step {label} · {suffix}")


def sub_run_summary(totals: dict[str, Any] | None) -> str | None:
    """One line adding up a run's sub-agent runs (the API's ``sub_run_totals``), or None."""
    if not totals or not totals.get("runs"):
        return None
    runs = int(totals["runs"])
    parts = [f"{runs} sub-agent run{'s' if runs != 1 else ''}"]
    states = [f"{totals[k]} {k}" for k in ("failed", "running") if totals.get(k)]
    if states:
        parts[0] += f" ({', '.join(states)})"
    tokens = f"{int(totals.get('input_tokens') or 0):,} / {int(totals.get('output_tokens') or 0):,}"
    parts.append(f"{tokens} tokens in / out")
    cost = format_cost(totals.get("cost_usd"))
    if cost:
        parts.append(cost)
    unpriced = int(totals.get("unpriced_runs") or 0)
    if unpriced:
        parts.append(f"{unpriced} without a known price")
    return "With its " + ", ".join(parts) + ", beyond this run's own figures above."
