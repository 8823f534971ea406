"""Pure display helpers: badges, durations, folding, escaping, frames, settings."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from dashboard.client import RunFilters
from dashboard.formatting import (
    code_span,
    escape_markdown,
    fold_text,
    format_duration_ms,
    format_time,
    one_line,
    pretty_json,
    run_duration_ms,
    status_badge,
    visible_json,
    visible_text,
)
from dashboard.json_reading import MAX_DEPTH, NOT_JSON, json_or_text, parse_json
from dashboard.settings import DashboardSettings, DashboardSettingsError
from dashboard.tables import runs_frame, sql_frame, timeline_frame


@pytest.mark.parametrize(
    ("status", "badge"),
    [
        ("running", "⟳ running"),
        ("completed", "✓ completed"),
        ("failed", "✗ failed"),
        ("max_steps", "⚠ max_steps"),
        ("cancelled", "⊘ cancelled"),
        ("lost", "? lost"),
        (None, "· unknown"),
    ],
)
def test_status_badges(status: str | None, badge: str) -> None:
    assert status_badge(status) == badge


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "–"),
        (0, "0 ms"),
        (0.4, "<1 ms"),
        (12.4, "12 ms"),
        (1500, "1.5 s"),
        (245_000, "4m 05s"),
        (7_380_000, "2h 03m"),
    ],
)
def test_durations(ms: float | None, text: str) -> None:
    assert format_duration_ms(ms) == text


def test_running_duration_ticks_from_the_start() -> None:
    run = {"status": "running", "started_at": "2025-03-01T10:00:00Z", "duration_ms": None}
    now = datetime(2025, 3, 1, 10, 0, 42, tzinfo=UTC)
    assert run_duration_ms(run, now) == 42_000
    assert format_time(run["started_at"]) == "2025-03-01 10:00:00 UTC"


def test_fold_text_keeps_a_preview_and_counts_what_is_hidden() -> None:
    text = "\n".join(f"line {i}" for i in range(100))
    folded = fold_text(text, max_chars=10_000, max_lines=15)
    assert folded.is_folded and folded.total_lines == 100
    assert folded.preview.splitlines()[-1] == "line 14"
    assert not fold_text("short").is_folded


def test_escaped_markdown_has_no_markup_left() -> None:
    hostile = "**b** [l](http://x.invalid) <img src=x> :red[r] $x$ a@b.io www.evil.io `c`"
    escaped = escape_markdown(hostile)
    unescaped = re.sub(r"\\(.)", r"\1", escaped).replace("\u200b", "")
    assert unescaped == hostile  # the reader sees the same characters
    assert "http://" not in escaped and ":red[" not in escaped and "www." not in escaped
    assert "<img" not in escaped.replace("\\<img", "")
    assert visible_text("a\x1b[31mb\x00") == "a\\x1b[31mb\\x00"
    assert code_span("a `b` c") == "`` a `b` c ``"


def test_visible_text_shows_what_would_reorder_or_hide_text() -> None:
    # Bidi embeddings, overrides and isolates, marks, zero-width characters, C1 controls,
    # line separators and lone surrogates: each shown by its code.
    invisible = (
        "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
        "\u200b\u2060\ufeff\x85\x9b\u2028\u2029\ud800"
    )
    shown = visible_text(f"a{invisible}b")
    assert (
        shown
        == "a"
        + "".join(f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}" for c in invisible)
        + "b"
    )
    # What text needs stays: tab, newline, the joiner inside emoji, right-to-left letters.
    kept = "tab\there\nשלום \U0001f468\u200d\U0001f469 é"
    assert visible_text(kept) == kept
    assert one_line("x\u202ey") == "x\\u202ey"


def test_visible_json_shows_every_string_and_key_by_code_and_keeps_the_rest() -> None:
    value = {
        "k\u202e": ["a\x1b[0m", {"n\x00": "\ufeffx", "n": 1.5}],
        "k\\u202e": None,  # reads like the first key once that is shown: kept apart
        "plain": [True, 3, "שלום\n"],
    }
    assert visible_json(value) == {
        "k\\u202e": ["a\\x1b[0m", {"n\\x00": "\\ufeffx", "n": 1.5}],
        "k\\u202e (again)": None,
        "plain": [True, 3, "שלום\n"],
    }
    assert visible_json("\u2066") == "\\u2066" and visible_json(7) == 7


def test_frames_keep_text_plain_and_steps_ordered() -> None:
    run = {
        "id": "r1",
        "status": "failed",
        "task": "line one\nline two",
        "step_count": 2,
        "duration_ms": 1200,
        "started_at": "2025-03-01T10:00:00Z",
    }
    frame = runs_frame([run])
    assert frame.iloc[0].to_dict()["Task"] == "line one line two"
    assert frame.iloc[0]["Status"] == "✗ failed"
    steps = [
        {"step_number": 1, "action_type": "think", "started_at": "2025-03-01T10:00:00Z",
         "duration_ms": 500, "status": "ok"},
        {"step_number": 2, "action_type": "tool_call", "tool_name": "df",
         "started_at": "2025-03-01T10:00:00.500Z", "duration_ms": 0, "status": "error"},
    ]  # fmt: skip
    timeline = timeline_frame(run, steps)
    assert list(timeline["step"]) == [1, 2]
    assert timeline.iloc[1]["start_s"] == pytest.approx(0.5)
    assert timeline.iloc[1]["end_s"] > timeline.iloc[1]["start_s"]  # visible even at 0 ms
    table = sql_frame(["a", "a", "j"], [[1, 2, {"k": [1]}]])
    assert list(table.columns) == ["a", "a_1", "j"] and table.iloc[0]["j"] == '{"k": [1]}'


def test_filters_become_query_parameters() -> None:
    filters = RunFilters(
        statuses=("failed", "lost"),
        source="n8n",
        text="disk",
        since=datetime(2025, 3, 1, tzinfo=UTC),
    )
    assert filters.to_params() == [
        ("status", "failed"),
        ("status", "lost"),
        ("source", "n8n"),
        ("q", "disk"),
        ("since", "2025-03-01T00:00:00Z"),
    ]
    assert RunFilters().is_empty


def test_settings_name_the_bad_variable() -> None:
    assert DashboardSettings.from_env({}).api_url == "http://127.0.0.1:4318"
    assert DashboardSettings.from_env({"AGENT_AUDIT_TOKEN": "t"}).token == "t"
    with pytest.raises(DashboardSettingsError, match="AGENT_AUDIT_API"):
        DashboardSettings.from_env({"AGENT_AUDIT_API": "localhost:4318"})
    with pytest.raises(DashboardSettingsError, match="AGENT_AUDIT_DASHBOARD_REFRESH_S"):
        DashboardSettings.from_env({"AGENT_AUDIT_DASHBOARD_REFRESH_S": "0"})


def test_json_nested_past_the_shown_depth_is_text() -> None:
    shallow = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_json(shallow) is not NOT_JSON
    for depth in (MAX_DEPTH + 1, 950, 100_000):  # the last is past json.loads' own limit
        deep = '{"a":' * depth + "1" + "}" * depth
        assert parse_json(deep) is NOT_JSON
        assert json_or_text(deep) == deep
        assert pretty_json(deep) == deep  # shown as the text it is
    wide = {f"k{n}": [n] for n in range(10_000)}  # wide is fine
    assert json_or_text(json.dumps(wide)) == wide
    assert parse_json("{'a': 1}") is NOT_JSON and parse_json('{"a": 1,') is NOT_JSON
