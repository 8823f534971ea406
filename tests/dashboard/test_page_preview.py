"""The page previews' HTML (dashboard/page_preview.py, dashboard/preview_pages.py): every
stored value is text, links lead only to the dashboard's own pages, and while scripts run
the preview is a picture, hidden from scripts and the accessibility tree."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

from dashboard.page_preview import (
    PREVIEW_ID,
    READY_CHART,
    READY_FORM,
    READY_GRID,
    READY_METRIC,
    READY_SCRIPT,
    READY_TREE,
    SHEET_ID,
    run_preview,
    runs_preview,
)
from dashboard.preview_pages import (
    compare_preview,
    costs_preview,
    live_preview,
    sql_preview,
    stats_preview,
)
from dashboard.sql_examples import FIRST_QUERY
from dashboard.views.runs import filters_from_query, started_days

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
HOSTILE = "<img src=x onerror=alert(1)> \"quoted' & <script>alert(2)</script>"


class _Tags(HTMLParser):
    """The tags and attributes a browser would build from the markup."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(markup: str) -> _Tags:
    parser = _Tags()
    parser.feed(markup)
    return parser


def _hostile_run(**extra: object) -> dict[str, object]:
    run: dict[str, object] = {
        key: HOSTILE
        for key in ("id", "task", "agent_name", "error", "model_used", "status", "cost_usd")
    }
    run.update(started_at="2026-12-07T11:57:00Z", duration_ms=1500, step_count=2, tool_calls=1)
    run.update(extra)
    return run


def _only_our_tags(parsed: _Tags, links_to: set[str] | None = None) -> None:
    """No markup of the stored values; links only to the dashboard's pages, relative,
    their values URL-quoted (``links_to``: the ids they must carry, when given)."""
    tags = {tag for tag, _ in parsed.tags}
    assert "img" not in tags
    assert [tag for tag, _ in parsed.tags].count("script") == 1  # the swap script, ours
    carried: set[str] = set()
    for tag, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "src" not in attrs, (tag, attrs)
        if "href" in attrs:
            assert tag == "a", (tag, attrs)
            href = urlsplit(str(attrs["href"]))
            assert not href.scheme and not href.netloc, attrs  # relative: no javascript:
            assert href.path in ("run", "compare"), attrs
            assert not set(str(attrs["href"])) & set("<>\"' "), attrs
            carried.update(v for values in parse_qs(href.query).values() for v in values)
    if links_to is not None:
        assert links_to <= carried, (links_to, carried)
    # The content is in a closed shadow root (no script or selector of the page reaches
    # it); the host is hidden and inert as soon as its script runs, and not without
    # scripts (then the preview is the page, and its links work).
    host, sheet = parsed.tags[0], parsed.tags[1]
    assert host[0] == "div" and host[1]["id"] == PREVIEW_ID
    assert sheet == ("div", {"id": SHEET_ID})
    assert "aria-hidden" not in host[1] and "inert" not in host[1]
    assert parsed.tags[2] == ("template", {"shadowrootmode": "closed"})
    script = "".join(parsed.text)
    assert f'document.getElementById("{SHEET_ID}").inert=true;' in script
    assert 'p.setAttribute("aria-hidden","true")' in script


def test_every_stored_value_in_the_runs_preview_is_text() -> None:
    markup = runs_preview([_hostile_run()], total=1, now=NOW)
    parsed = _parse(markup)
    _only_our_tags(parsed, {HOSTILE})
    text = "".join(parsed.text)
    assert HOSTILE.split(" ")[0] in text  # shown, as text
    assert f'data-ready="{READY_GRID}"' in markup
    assert "3 min ago" in text and "12-07 11:57" in text


def test_every_stored_value_in_the_run_preview_is_text() -> None:
    steps = [
        {"step_number": 1, "status": "ok", "action_type": HOSTILE, "tool_name": HOSTILE},
        {"step_number": 2, "status": "error", "action_type": "tool_call", "error": HOSTILE},
    ]
    markup = run_preview(_hostile_run(final_answer=HOSTILE), steps, now=NOW)
    parsed = _parse(markup)
    _only_our_tags(parsed, {HOSTILE, "1", "2"})
    assert "".join(parsed.text).count("<img src=x") >= 3  # task, step, errors: as text
    assert f'data-ready="{READY_TREE}"' in markup


def test_a_run_without_steps_and_an_empty_list_wait_for_the_script_run_only() -> None:
    assert f'data-ready="{READY_SCRIPT}"' in run_preview({"id": "r", "status": "running"}, [])
    assert f'data-ready="{READY_SCRIPT}"' in runs_preview([], total=0)


def test_the_preview_reads_the_filters_the_runs_page_reads() -> None:
    filters = filters_from_query(
        {"status": ["failed", "bogus"], "agent": ["ops"], "errors": ["true"], "q": ["  disk "]}
    )
    assert filters is not None
    assert filters.statuses == ("failed",) and filters.agent_name == "ops"
    assert filters.has_error and filters.text == "disk"
    assert filters_from_query({}) == filters_from_query({"status": []})


def test_the_preview_reads_the_started_range_as_the_date_box_does() -> None:
    today = date(2026, 12, 7)
    one_day = filters_from_query({"started": ["2026-12-01"]}, today)
    assert one_day.since == datetime(2026, 12, 1, tzinfo=UTC)
    assert one_day.until == datetime(2026, 12, 2, tzinfo=UTC)
    both = filters_from_query({"started": ["2026/11/30", "2026-12-03"]}, today)
    assert (both.since, both.until) == (
        datetime(2026, 11, 30, tzinfo=UTC),
        datetime(2026, 12, 4, tzinfo=UTC),
    )
    assert started_days(["2026-12-01", "2026-12-01"], today) == (date(2026, 12, 1),)
    # One value the box cannot read or that is out of its bounds: no date filter at all.
    for values in (["yesterday"], ["2026-12-01", "2026-13-01"], ["2000-01-01"], ["2037-01-01"]):
        assert started_days(values, today) == (), values
        assert filters_from_query({"started": values}, today).since is None


def test_streamlits_shell_starts_its_app_without_waiting_for_the_document() -> None:
    from dashboard.preview_middleware import shell_and_rest
    from dashboard.static_assets import streamlit_static_dir

    document = (streamlit_static_dir() / "index.html").read_bytes()
    parts = shell_and_rest(document)
    assert parts is not None
    shell, rest = parts
    assert rest.startswith(b"</body>")
    # The module script: gone from the head, after #root, async (runs once loaded,
    # whether or not the document has ended).
    head, root, after = shell.partition(b'<div id="root"></div>')
    assert root and b'type="module"' not in head
    assert re.match(
        rb'<script async type="module" crossorigin src="\./static/js/[^"]+"></script>', after
    )
    # Nothing else changed.
    script = re.search(rb"<script[^>]*type=\"module\"[^>]*></script>\s*", document)
    assert script is not None
    moved = after[: after.index(b"</script>") + len(b"</script>")]
    assert shell.replace(moved, b"") + rest == document.replace(script.group(0), b"")
    # Documents this does not know stay as they are (the middleware then adds no preview).
    assert shell_and_rest(b'<html><body><div id="root"></div></body></html>') is None
    assert shell_and_rest(document.replace(b"</body>", b"")) is None
    assert shell_and_rest(document.replace(b'<div id="root"></div>', b"")) is None


def _hostile_step(number: int, **extra: object) -> dict[str, object]:
    step: dict[str, object] = {
        "step_number": number,
        "status": "ok",
        "action_type": "tool_call",
        "tool_name": HOSTILE,
        "tool_args": {"x": HOSTILE},
        "tool_result": HOSTILE,
        "duration_ms": 120,
    }
    step.update(extra)
    return step


def test_every_stored_value_in_the_compare_preview_is_text() -> None:
    run_a = _hostile_run(id="run-a", final_answer=HOSTILE)
    run_b = _hostile_run(id=HOSTILE)
    steps_a = [_hostile_step(1), _hostile_step(2, status="error", error=HOSTILE)]
    steps_b = [_hostile_step(1, tool_result="other"), _hostile_step(2), _hostile_step(3)]
    markup = compare_preview(("run-a", (run_a, steps_a)), (HOSTILE, (run_b, steps_b)), now=NOW)
    parsed = _parse(markup)
    _only_our_tags(parsed, {"run-a", HOSTILE, "1", "2", "3"})
    text = "".join(parsed.text)
    assert text.count("<img src=x") >= 4 and f'data-ready="{READY_GRID}"' in markup
    # The aligned steps: what differs in words, the step only B has marked.
    assert "output" in text and "only in B" in text
    assert 'class="only"' in markup and 'class="differs"' in markup
    missing = compare_preview(("run-a", (run_a, steps_a)), (HOSTILE, None), now=NOW)
    _only_our_tags(_parse(missing))
    assert "No run with id <img" in "".join(_parse(missing).text)
    assert "Pick two runs" in compare_preview(None, None)


def test_every_stored_value_in_the_live_preview_is_text() -> None:
    running = _hostile_run(id="live-1", status="running", completed_at=None, duration_ms=None)
    finished = _hostile_run(id="done-1", status="failed")
    steps = {"live-1": [_hostile_step(4, model=HOSTILE, status="running", duration_ms=None)]}
    markup = live_preview([running], 1, steps, [finished], now=NOW)
    parsed = _parse(markup)
    _only_our_tags(parsed, {"live-1", "done-1"})
    text = "".join(parsed.text)
    assert "1 running" in text and "Step 4 ⟳ tool_call <img" in text
    assert "Elapsed" in text and "Just finished" in text
    assert f'data-ready="{READY_METRIC} {READY_GRID}"' in markup
    quiet = live_preview([], 0, {}, [], now=NOW)
    assert "No agent is running right now." in quiet
    assert f'data-ready="{READY_METRIC}"' in quiet


def test_every_stored_value_in_the_stats_previews_is_text() -> None:
    stats = {
        "total_runs": 12,
        "error_rate": 0.25,
        "duration_ms": {"p50": 1500, "p95": 9000, "max": 12000},
        "steps_per_run": {"avg": 4.5},
        "tokens": {"input": 1200, "output": 300},
        "runs_over_time": [
            {"bucket": "2026-12-06T00:00:00Z", "status": "completed", "runs": 7},
            {"bucket": "2026-12-07T00:00:00Z", "status": HOSTILE, "runs": 5},
        ],
        "top_tools": [{"tool_name": HOSTILE, "calls": 9, "errors": 1, "error_rate": 1 / 9}],
        "by_source": {HOSTILE: 12},
        "by_model": {"llama": 8, HOSTILE: 4},
    }
    markup = stats_preview(stats, "day")
    parsed = _parse(markup)
    _only_our_tags(parsed)
    text = "".join(parsed.text)
    assert text.count("<img src=x") == 4  # a status, a tool, a source, a model: as text
    for shown in ("Runs", "12", "25.0%", "1.5 s", "4.5", "1,200", "2026-12-07", "11.1%"):
        assert shown in text, shown
    assert f'data-ready="{READY_CHART}"' in markup
    assert "No agent runs recorded yet." in stats_preview({"total_runs": 0}, "day")
    costs = {
        "runs": 10,
        "unpriced_runs": 2,
        "total_usd": 0.5,
        "by_model": {HOSTILE: 0.4, "gpt": 0.1},
        "by_agent": {HOSTILE: 0.5},
    }
    markup = costs_preview(costs)
    parsed = _parse(markup)
    _only_our_tags(parsed)
    text = "".join(parsed.text)
    assert text.count("<img src=x") == 2 and "Runs without a price" in text
    assert "No cost yet" in costs_preview({"runs": 3, "total_usd": 0})


def test_the_sql_preview_is_the_empty_editor() -> None:
    markup = sql_preview()
    parsed = _parse(markup)
    _only_our_tags(parsed)
    assert FIRST_QUERY in "".join(parsed.text)
    assert f'data-ready="{READY_FORM}"' in markup
    # A picture of the form: nothing to type in, submit or run.
    assert {"form", "input", "textarea", "button", "a"}.isdisjoint(t for t, _ in parsed.tags)
