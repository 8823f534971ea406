"""The page preview's HTML (dashboard/page_preview.py): every stored value is text, and
the preview is a picture, hidden from scripts and the accessibility tree."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

from dashboard.page_preview import (
    PREVIEW_ID,
    READY_GRID,
    READY_SCRIPT,
    READY_TREE,
    run_preview,
    runs_preview,
)
from dashboard.views.runs import filters_from_query

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


def _only_our_tags(parsed: _Tags) -> None:
    tags = {tag for tag, _ in parsed.tags}
    assert "img" not in tags
    assert [tag for tag, _ in parsed.tags].count("script") == 1  # the swap script, ours
    for tag, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "href" not in attrs and "src" not in attrs, (tag, attrs)  # nothing to follow
    # The host is hidden from assistive technology; its content is in a closed shadow
    # root (no script or selector of the page reaches it) and inert (no focus, no clicks).
    host = parsed.tags[0]
    assert host[0] == "div" and host[1]["id"] == PREVIEW_ID
    assert host[1]["aria-hidden"] == "true"
    assert parsed.tags[1] == ("template", {"shadowrootmode": "closed"})
    assert [attrs for tag, attrs in parsed.tags if tag == "main"] == [
        {"class": "page", "inert": None}
    ]


def test_every_stored_value_in_the_runs_preview_is_text() -> None:
    markup = runs_preview([_hostile_run()], total=1, now=NOW)
    parsed = _parse(markup)
    _only_our_tags(parsed)
    text = "".join(parsed.text)
    assert HOSTILE.split(" ")[0] in text  # shown, as text
    assert "a" not in {tag for tag, _ in parsed.tags}
    assert f'data-ready="{READY_GRID}"' in markup
    assert "3 min ago" in text and "12-07 11:57" in text


def test_every_stored_value_in_the_run_preview_is_text() -> None:
    steps = [
        {"step_number": 1, "status": "ok", "action_type": HOSTILE, "tool_name": HOSTILE},
        {"step_number": 2, "status": "error", "action_type": "tool_call", "error": HOSTILE},
    ]
    markup = run_preview(_hostile_run(final_answer=HOSTILE), steps, now=NOW)
    parsed = _parse(markup)
    _only_our_tags(parsed)
    assert "".join(parsed.text).count("<img src=x") >= 3  # task, step, errors: as text
    assert f'data-ready="{READY_TREE}"' in markup
    assert "a" not in {tag for tag, _ in parsed.tags}


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
    assert filters_from_query({"started": ["2026-01-01"]}) is None  # dates: the page's own bar
    assert filters_from_query({}) == filters_from_query({"status": []})


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
