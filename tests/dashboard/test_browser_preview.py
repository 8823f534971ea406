"""A new tab's preview of the page (dashboard/page_preview.py), in a real Chromium.

- The page document carries the runs list (or the run) as plain HTML: a new tab
  shows the rows while Streamlit's websocket is blocked, and its links open runs.
- Streamlit's page replaces the preview only once it has drawn the same content
  (the table's canvas, the span tree), so there is no empty frame in between.
- Stored markup in the preview is text: nothing in it runs.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dashboard.page_preview import PREVIEW_ID
from tests.dashboard.agents import HOSTILE_RESULT
from tests.dashboard.browser_support import WAIT_MS, Served

pytestmark = pytest.mark.browser

PREVIEW = f"#{PREVIEW_ID}"

# Notes, at the moment the preview is removed, what Streamlit has drawn underneath.
RECORD_SWAP = """(() => {
  const grid = () => [...document.querySelectorAll('[data-testid=stDataFrame] canvas')]
    .filter(c => c.offsetParent && c.width).length;
  const tree = () => [...document.querySelectorAll('*')]
    .some(e => e.shadowRoot && e.shadowRoot.querySelector('.tree .row'));
  new MutationObserver((changes, observer) => {
    for (const change of changes) {
      for (const node of change.removedNodes) {
        if (node.id === 'page-preview') {
          window.__swap = {grid: grid(), tree: tree(), at: performance.now()};
          observer.disconnect();
        }
      }
    }
  }).observe(document, {childList: true, subtree: true});
  new MutationObserver((changes, observer) => {
    if (document.getElementById('page-preview')) {
      window.__previewSeen = performance.now();
      observer.disconnect();
    }
  }).observe(document, {childList: true, subtree: true});
})()"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The dashboard with page previews on: page documents carry their preview."""
    from tests.dashboard.browser_support import serve_dashboard

    yield from serve_dashboard(tmp_path_factory, preview=True)


@pytest.fixture
def blocked_tab(served: Served) -> Iterator[Any]:
    """A new tab in a fresh context whose Streamlit websocket never connects."""
    browser = served.page.context.browser  # type: ignore[attr-defined]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened: list[str] = []

    def hold(socket: Any) -> None:
        opened.append(socket.url)  # not connected to the server: Streamlit waits

    context.route_web_socket(re.compile(r".*/_stcore/stream"), hold)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.opened_sockets = opened
    try:
        yield page
    finally:
        context.close()


def test_a_new_tab_shows_the_runs_before_the_websocket_opens(
    served: Served, blocked_tab: Any
) -> None:
    runs = served.seeded.runs
    blocked_tab.goto(served.url + "/")
    rows = blocked_tab.locator(f"{PREVIEW} table.runs tbody tr")
    rows.first.wait_for()
    assert rows.count() >= len(runs.all())
    link = blocked_tab.locator(f"{PREVIEW} a[href='run?run={runs.failed}']")
    assert link.count() == 1 and link.is_visible()
    # Streamlit never ran a script: the rows come from the document alone.
    assert blocked_tab.opened_sockets, "Streamlit's frontend tried its websocket"
    state = blocked_tab.locator("[data-testid=stApp]")
    assert state.count() == 0 or state.get_attribute("data-test-script-state") != "notRunning"
    # The link works without Streamlit: the run's page previews its header and steps.
    link.click()
    blocked_tab.wait_for_url(re.compile(r"/run\?run="))
    blocked_tab.locator(f"{PREVIEW} h2").wait_for()
    stored = httpx.get(f"{served.seeded.api_url}/agent/runs/{runs.failed}", timeout=10).json()
    assert blocked_tab.locator(f"{PREVIEW} h2").inner_text() == stored["task"]
    assert "failed" in blocked_tab.locator(f"{PREVIEW} .status").inner_text()
    steps = blocked_tab.locator(f"{PREVIEW} table.steps tbody tr")
    assert steps.count() > 0
    first_step = steps.first.locator("a").first.get_attribute("href")
    assert first_step == f"run?run={runs.failed}&step=1"


def test_the_preview_keeps_the_urls_filters(served: Served, blocked_tab: Any) -> None:
    blocked_tab.goto(served.url + "/?status=failed")
    rows = blocked_tab.locator(f"{PREVIEW} table.runs tbody tr")
    rows.first.wait_for()
    statuses = {row.locator("td").first.inner_text() for row in rows.all()}
    assert statuses == {"✗ failed"}, statuses


def test_streamlits_page_replaces_the_preview_once_drawn(served: Served) -> None:
    browser = served.page.context.browser  # type: ignore[attr-defined]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(RECORD_SWAP)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        for path, drawn in (("/", "grid"), (f"/run?run={served.seeded.runs.failed}", "tree")):
            page.goto(served.url + path)
            # Streamlit's page on a busy machine: wait longer than for one element.
            page.wait_for_function("() => window.__swap !== undefined", timeout=4 * WAIT_MS)
            swap = page.evaluate("window.__swap")
            seen = page.evaluate("window.__previewSeen")
            assert seen is not None and seen < swap["at"], (path, seen, swap)
            assert swap[drawn], f"{path}: the preview went before Streamlit drew the {drawn}"
            assert page.locator(PREVIEW).count() == 0
    finally:
        context.close()


def test_stored_markup_in_the_preview_is_text(served: Served, blocked_tab: Any) -> None:
    hostile = served.seeded.runs.hostile
    document = httpx.get(served.url + "/", timeout=10).text
    preview = document.split(f'id="{PREVIEW_ID}"', 1)[1].split("</div><script>", 1)[0]
    assert "<img" not in preview and "<script" not in preview
    assert html.escape("<img src=x", quote=True) in preview
    for path in ("/", f"/run?run={hostile}"):
        blocked_tab.goto(served.url + path)
        blocked_tab.locator(PREVIEW).wait_for()
        text = blocked_tab.locator(PREVIEW).inner_text()
        assert HOSTILE_RESULT.split(" <script>")[0] in text, text[:500]
        assert blocked_tab.locator(f"{PREVIEW} img, {PREVIEW} script").count() == 0
        assert blocked_tab.title() != "pwned"


def test_the_document_with_a_preview_is_never_cached(served: Served) -> None:
    first = httpx.get(served.url + "/", timeout=10)
    assert first.headers["cache-control"] == "no-store"
    assert "etag" not in first.headers and "last-modified" not in first.headers
    assert PREVIEW_ID in first.text
    assert "BACKEND_BASE_URL" in first.text.split("<body>", 1)[0]  # the hint stays
    # A page without a preview is Streamlit's document as it was (with the base-URL hint).
    stats = httpx.get(served.url + "/stats", timeout=10)
    assert PREVIEW_ID not in stats.text
    assert int(stats.headers["content-length"]) == len(stats.content)
    # An unknown run: the document still comes, without a preview.
    unknown = httpx.get(served.url + "/run?run=no-such-run", timeout=10)
    assert unknown.status_code == 200 and PREVIEW_ID not in unknown.text
    assert '<div id="root"></div>' in unknown.text
