"""A new tab's preview of the page (dashboard/page_preview.py), in a real Chromium.

- The page document carries the runs list (with the URL's filters) or the run as
  plain HTML: a new tab shows the rows while Streamlit's websocket is blocked.
- The preview is a picture: no selector, script, text search or assistive
  technology of the page finds its content (a closed shadow root, aria-hidden,
  inert); only the DevTools protocol, as these tests do, looks inside.
- Streamlit's page replaces the preview only once it has drawn the same content
  (the table's canvas, the span tree), so there is no empty frame in between.
- A slow API never holds Streamlit back: its app starts while the document still
  waits for the preview's data, and a preview that comes after Streamlit's first
  element is never painted.
- Stored markup in the preview is text: nothing in it runs.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from dashboard.client import AuditClient
from dashboard.compare import align_steps, differs_label, step_label
from dashboard.formatting import one_line
from dashboard.page_preview import PREVIEW_ID, SHEET_ID, STEPS_SHOWN
from dashboard.sql_examples import FIRST_QUERY
from dashboard.stats_figures import cost_figures, headline_figures
from dashboard.views.runs import PAGE_SIZE, filters_from_query
from tests.dashboard.agents import HOSTILE_RESULT
from tests.dashboard.browser_support import WAIT_MS, Served, in_closed_shadow, screenshot
from tests.dashboard.contrast import contrast_ratio

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
      // Still there two frames later: it was painted (a late preview goes unpainted).
      requestAnimationFrame(() => requestAnimationFrame(() => {
        window.__previewPainted = !!document.getElementById('page-preview');
      }));
      observer.disconnect();
    }
  }).observe(document, {childList: true, subtree: true});
})()"""

# What the preview's shadow root holds, read through the DevTools protocol.
ROWS = """function () {
  return [...this.querySelectorAll('table tbody tr')]
    .map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent));
}"""
SHADOW_TEXT = "function () { return this.textContent; }"
SHADOW_TAGS = "function () { return [...this.querySelectorAll('*')].map(e => e.tagName); }"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The dashboard, its page documents waiting for their preview however busy the
    machine is."""
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


def _preview(page: Any, function: str) -> Any:
    page.locator(PREVIEW).wait_for(state="attached")
    return in_closed_shadow(page, SHEET_ID, function)


def _stored(served: Served, query: str) -> list[dict[str, Any]]:
    """The runs the runs page shows for a URL's query, straight from the API."""
    filters = filters_from_query(parse_qs(query))
    assert filters is not None
    with AuditClient(served.seeded.api_url, timeout_s=10) as api:
        return list(api.list_runs(filters, limit=PAGE_SIZE).runs)


def test_a_new_tab_shows_the_runs_before_the_websocket_opens(
    served: Served, blocked_tab: Any
) -> None:
    blocked_tab.goto(served.url + "/")
    rows = _preview(blocked_tab, ROWS)
    stored = _stored(served, "")
    assert [row[4] for row in rows] == [one_line(run["task"] or "(no task)", 160) for run in stored]
    assert len(rows) >= len(served.seeded.runs.all())
    # Streamlit never ran a script: the rows come from the document alone.
    assert blocked_tab.opened_sockets, "Streamlit's frontend tried its websocket"
    state = blocked_tab.locator("[data-testid=stApp]")
    assert state.count() == 0 or state.get_attribute("data-test-script-state") != "notRunning"
    # It covers the window.
    box = blocked_tab.locator(PREVIEW).bounding_box()
    assert box is not None and box["width"] >= 1400 and box["height"] >= 1000


def test_a_runs_preview_shows_its_header_and_steps(served: Served, blocked_tab: Any) -> None:
    failed = served.seeded.runs.failed
    blocked_tab.goto(f"{served.url}/run?run={failed}&step=2")
    stored = httpx.get(f"{served.seeded.api_url}/agent/runs/{failed}", timeout=10).json()
    heading = _preview(blocked_tab, "function () { return this.querySelector('h2').textContent }")
    assert heading == one_line(stored["task"], 160)
    status = _preview(
        blocked_tab, "function () { return this.querySelector('.status').textContent }"
    )
    assert "failed" in status
    rows = _preview(blocked_tab, ROWS)
    steps = sorted(stored["steps"], key=lambda step: step["step_number"])
    assert [int(row[0]) for row in rows] == [s["step_number"] for s in steps][:STEPS_SHOWN]
    failing = [row for row, step in zip(rows, steps, strict=False) if step["status"] == "error"]
    assert failing and all(row[1] == "✗" for row in failing), rows


@pytest.mark.parametrize(
    ("query", "applied"),
    [
        ("status=failed", "status=failed"),
        ("source=n8n", "source=n8n"),
        (
            "status=completed&status=failed&q=container",
            "status=completed&status=failed&q=container",
        ),
        ("errors=true", "errors=true"),
        # The page's Source box does not offer it, so Streamlit drops it: all runs.
        ("source=no-such-source&status=failed", "status=failed"),
    ],
)
def test_the_preview_shows_the_runs_of_the_urls_filters(
    served: Served, blocked_tab: Any, query: str, applied: str
) -> None:
    blocked_tab.goto(f"{served.url}/?{query}")
    rows = _preview(blocked_tab, ROWS)
    stored = _stored(served, applied)
    assert stored, f"the sample runs should match {applied}"
    assert len(stored) < len(_stored(served, "")), f"{applied} should leave some runs out"
    assert [(row[0].split(" ")[-1], row[4]) for row in rows] == [
        (run["status"], one_line(run["task"], 160)) for run in stored
    ]


def test_no_selector_script_or_assistive_technology_finds_the_preview(
    served: Served, blocked_tab: Any
) -> None:
    blocked_tab.goto(served.url + "/")
    text = _preview(blocked_tab, SHADOW_TEXT)
    task = "Analyze container crash"  # a sample run's task, in the preview
    assert task in text
    host = blocked_tab.locator(PREVIEW)
    assert host.get_attribute("aria-hidden") == "true"
    assert blocked_tab.evaluate(f"document.getElementById('{SHEET_ID}').shadowRoot") is None
    # Playwright's text and role selectors, the page's own text, its accessibility tree.
    assert blocked_tab.get_by_text(task).count() == 0
    assert blocked_tab.get_by_role("table").count() == 0
    assert blocked_tab.get_by_role("row").count() == 0
    assert blocked_tab.locator("table, tr, td, h1").count() == 0
    assert task not in blocked_tab.evaluate("document.body.innerText")
    assert task not in (blocked_tab.locator("body").aria_snapshot() or "")
    assert not blocked_tab.evaluate(f"window.find({task!r})")  # the browser's find in page
    # Nothing in it can be typed in; its links (for a browser without JavaScript) cannot
    # be followed or focused while scripts run: the host is inert, a click lands on it
    # and does nothing (test_while_scripts_run_a_click_on_the_preview_does_nothing).
    tags = set(_preview(blocked_tab, SHADOW_TAGS))
    assert {"BUTTON", "INPUT"}.isdisjoint(tags) and {"TABLE", "A"} <= tags
    assert blocked_tab.evaluate(f"document.getElementById('{SHEET_ID}').inert") is True
    target = blocked_tab.evaluate("document.elementFromPoint(400, 200).id")
    assert target == PREVIEW_ID


def test_streamlits_page_replaces_the_preview_once_drawn(served: Served) -> None:
    browser = served.page.context.browser  # type: ignore[attr-defined]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(RECORD_SWAP)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        for path, drawn in (("/", "grid"), (f"/run?run={served.seeded.runs.failed}", "tree")):
            # A preview whose data came after Streamlit drew its first element goes at
            # once, unpainted (page_preview.py); on a busy machine a load may be such a
            # one: what this test checks is the swap of a painted preview, so load again.
            for _ in range(3):
                page.goto(served.url + path)
                # Streamlit's page on a busy machine: wait longer than for one element.
                page.wait_for_function("() => window.__swap !== undefined", timeout=4 * WAIT_MS)
                swap = page.evaluate("window.__swap")
                seen = page.evaluate("window.__previewSeen")
                assert seen is not None and seen < swap["at"], (path, seen, swap)
                if page.evaluate("window.__previewPainted"):
                    break
            else:
                raise AssertionError(f"{path}: the preview came late in three loads")
            assert swap[drawn], f"{path}: the preview went before Streamlit drew the {drawn}"
            assert page.locator(PREVIEW).count() == 0
    finally:
        context.close()


def test_stored_markup_in_the_preview_is_text(served: Served, blocked_tab: Any) -> None:
    hostile = served.seeded.runs.hostile
    document = httpx.get(served.url + "/", timeout=10).text
    preview = document.split(f'id="{PREVIEW_ID}"', 1)[1].split("</template>", 1)[0]
    assert "<img" not in preview and "<script" not in preview
    assert html.escape("<img src=x", quote=True) in preview
    for path in ("/", f"/run?run={hostile}"):
        blocked_tab.goto(served.url + path)
        text = _preview(blocked_tab, SHADOW_TEXT)
        assert HOSTILE_RESULT.split(" <script>")[0] in text, text[:500]
        tags = set(_preview(blocked_tab, SHADOW_TAGS))
        assert {"IMG", "SCRIPT"}.isdisjoint(tags), tags
        assert blocked_tab.title() != "pwned"


def test_the_document_with_a_preview_is_never_cached(served: Served) -> None:
    first = httpx.get(served.url + "/", timeout=10)
    assert first.headers["cache-control"] == "no-store"
    assert "etag" not in first.headers and "last-modified" not in first.headers
    assert PREVIEW_ID in first.text
    assert "BACKEND_BASE_URL" in first.text.split("<body>", 1)[0]  # the hint stays
    # Streamlit's app starts by itself: its module script, async, after #root.
    shell = first.text.split(f'<div id="{PREVIEW_ID}"', 1)[0]
    assert re.search(r'<div id="root"></div><script async type="module"[^>]*src=', shell)
    assert 'type="module"' not in shell.split('<div id="root">', 1)[0]
    # A path that is no page has no preview: Streamlit's document as it was (with the
    # base-URL hint).
    other = httpx.get(served.url + "/no-such-page", timeout=10)
    assert other.status_code == 200 and '<div id="root"></div>' in other.text
    assert PREVIEW_ID not in other.text
    assert int(other.headers["content-length"]) == len(other.content)
    # An unknown run: the document still comes, without a preview.
    unknown = httpx.get(served.url + "/run?run=no-such-run", timeout=10)
    assert unknown.status_code == 200 and PREVIEW_ID not in unknown.text
    assert '<div id="root"></div>' in unknown.text


# --- a slow API ----------------------------------------------------------------------


@dataclass
class HeldApi:
    """A proxy to the collector that holds every ``GET /agent/runs`` until released."""

    url: str
    release: threading.Event
    held: threading.Event  # a list request is waiting


def _holding_proxy(upstream: str) -> tuple[ThreadingHTTPServer, HeldApi]:
    release, held = threading.Event(), threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            if self.command == "GET" and urlsplit(self.path).path == "/agent/runs":
                held.set()
                release.wait(120)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            answer = httpx.request(
                self.command, upstream + self.path, content=body, headers=headers, timeout=60
            )
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_POST = _forward

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, HeldApi(f"http://127.0.0.1:{server.server_address[1]}", release, held)


# Notes the document's state when Streamlit's app opens its websocket, and whether the
# preview was ever on screen (two frames after it is whole in the DOM, still there).
RECORD_START = """(() => {
  const Original = window.WebSocket;
  window.WebSocket = function (...args) {
    window.__socketWhileLoading ??= document.readyState === 'loading';
    return new Original(...args);
  };
  window.WebSocket.prototype = Original.prototype;
  Object.assign(window.WebSocket, Original);
  new MutationObserver((changes, observer) => {
    const host = document.getElementById('page-preview');
    if (!host || !host.nextElementSibling) return;
    observer.disconnect();
    requestAnimationFrame(() => requestAnimationFrame(() => {
      window.__previewPainted = host.isConnected;
    }));
  }).observe(document, {childList: true, subtree: true});
})()"""


def test_a_slow_api_never_holds_streamlit_back(
    served: Served, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tests.dashboard.browser_support import start_dashboard

    proxy, api = _holding_proxy(served.seeded.api_url)
    workdir = tmp_path_factory.mktemp("slow-api")
    process, url = start_dashboard(
        api.url,
        workdir / "dashboard.log",
        extra_env={
            "AGENT_AUDIT_DASHBOARD_PREVIEW_WAIT_S": "60",
            "AGENT_AUDIT_DASHBOARD_TIMEOUT_S": "60",
        },
    )
    browser = served.page.context.browser  # type: ignore[attr-defined]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(RECORD_START)
    page = context.new_page()
    page.set_default_timeout(4 * WAIT_MS)
    try:
        page.goto(url + "/", wait_until="commit")
        # Streamlit's app runs and draws its first elements while the document is still
        # open, waiting for the preview's (held) read.
        page.get_by_role("heading", name="Agent runs").wait_for()
        assert api.held.is_set()
        assert page.evaluate("document.readyState") == "loading"
        assert page.evaluate("window.__socketWhileLoading") is True
        api.release.set()
        # The preview came after Streamlit's first element: it went before being painted.
        page.wait_for_function("() => window.__previewPainted !== undefined")
        assert page.evaluate("window.__previewPainted") is False
        page.wait_for_function("document.readyState === 'complete'")
        page.locator("[data-testid=stDataFrame]").first.wait_for()
        assert page.locator(PREVIEW).count() == 0
    finally:
        api.release.set()
        context.close()
        process.terminate()
        process.wait(timeout=20)
        proxy.shutdown()


# --- every other page: compare, live, stats, SQL, and a date range ---------------------


def _api(served: Served, path: str) -> Any:
    return httpx.get(f"{served.seeded.api_url}{path}", timeout=10).json()


def _run_with_steps(served: Served, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    record = _api(served, f"/agent/runs/{run_id}")
    return record, sorted(record.pop("steps"), key=lambda s: s["step_number"])


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def test_the_compare_preview_aligns_the_two_runs_steps(served: Served, blocked_tab: Any) -> None:
    runs = served.seeded.runs
    blocked_tab.goto(f"{served.url}/compare?a={runs.completed}&b={runs.failed}")
    rows = _preview(blocked_tab, ROWS)
    (run_a, steps_a), (run_b, steps_b) = (
        _run_with_steps(served, runs.completed),
        _run_with_steps(served, runs.failed),
    )
    pairs = align_steps(steps_a, steps_b)
    assert len(pairs) > 1
    assert [row[:3] for row in rows] == [
        [differs_label(p), str((p.a or {}).get("step_number", "")), step_label(p.a)] for p in pairs
    ]
    assert [row[5] for row in rows] == [step_label(p.b) for p in pairs]
    text = _preview(blocked_tab, SHADOW_TEXT)
    assert one_line(run_a["task"], 120) in text and one_line(run_b["task"], 120) in text
    # An unknown id is said as the page says it.
    blocked_tab.goto(f"{served.url}/compare?a={runs.completed}&b=no-such-run")
    assert "No run with id no-such-run." in _preview(blocked_tab, SHADOW_TEXT)


def test_the_live_preview_shows_running_agents_and_just_finished_runs(
    served: Served, blocked_tab: Any
) -> None:
    blocked_tab.goto(f"{served.url}/live")
    text = _preview(blocked_tab, SHADOW_TEXT)
    running = _api(served, "/agent/runs?status=running&limit=50")["runs"]
    assert served.seeded.live_id in {r["id"] for r in running}
    assert f"{len(running)} running" in text
    for run in running:
        assert run["id"] in text and one_line(run["task"], 100) in text
    links = _preview(blocked_tab, LINKS)
    finished = [r for r in _api(served, "/agent/runs?limit=60")["runs"] if r["status"] != "running"]
    assert [link for link in links if link not in {f"run?run={r['id']}" for r in running}] == [
        f"run?run={quote(r['id'], safe='')}" for r in finished[:10]
    ]


@pytest.mark.parametrize("view", ["runs", "costs"])
def test_the_stats_preview_shows_the_figures_and_tables(
    served: Served, blocked_tab: Any, view: str
) -> None:
    blocked_tab.goto(f"{served.url}/stats" + ("?view=costs" if view == "costs" else ""))
    figures = _preview(blocked_tab, FIGURES)
    if view == "runs":
        stats = _api(served, "/agent/runs/stats?bucket=day")
        assert figures == [list(f) for f in headline_figures(stats)]
        text = _preview(blocked_tab, SHADOW_TEXT)
        for name in [*stats["by_source"], *stats["by_model"]]:
            assert one_line(name, 60) in text
        cells = _preview(blocked_tab, CELLS)
        assert {t["tool_name"] for t in stats["top_tools"]} <= set(cells)
    else:
        costs = _api(served, "/agent/costs?bucket=day")
        assert figures == [list(f) for f in cost_figures(costs)]


def test_the_sql_preview_is_the_editor_as_it_opens(served: Served, blocked_tab: Any) -> None:
    # A query in the URL is neither shown nor run (the page does not read one either).
    blocked_tab.goto(f"{served.url}/sql?sql=SELECT+42+AS+from_url&q=SELECT+43")
    text = _preview(blocked_tab, SHADOW_TEXT)
    assert FIRST_QUERY in text and "Run query" in text
    assert "from_url" not in text and "43" not in text
    # A picture of the form: nothing to type in or submit; no query was sent for it.
    tags = set(_preview(blocked_tab, SHADOW_TAGS))
    assert {"FORM", "INPUT", "TEXTAREA", "BUTTON", "A"}.isdisjoint(tags), tags


@pytest.mark.parametrize("started", ["today", "today,today", "2020-01-01", "not-a-date"])
def test_the_runs_preview_follows_the_started_range(
    served: Served, blocked_tab: Any, started: str
) -> None:
    values = [_today() if v == "today" else v for v in started.split(",")]
    query = "&".join(f"started={v}" for v in values)
    blocked_tab.goto(f"{served.url}/?{query}")
    text = _preview(blocked_tab, SHADOW_TEXT)
    filters = filters_from_query({"started": values})
    with AuditClient(served.seeded.api_url, timeout_s=10) as api:
        stored = api.list_runs(filters, limit=PAGE_SIZE).runs
    if started == "2020-01-01":
        assert not stored and "No runs match." in text
        return
    assert len(stored) >= len(served.seeded.runs.all())
    rows = _preview(blocked_tab, ROWS)
    assert [row[4] for row in rows] == [one_line(r["task"] or "(no task)", 160) for r in stored]


# The preview's links, as the shadow root holds them; where a link is on screen.
LINKS = "function () { return [...this.querySelectorAll('a')].map(a => a.getAttribute('href')) }"
CELLS = "function () { return [...this.querySelectorAll('td')].map(td => td.textContent) }"
FIGURES = """function () {
  return [...this.querySelectorAll('.figures > div')]
    .map(d => [d.querySelector('dt').textContent, d.querySelector('dd').textContent]);
}"""


def _link_position(page: Any, href: str) -> dict[str, float]:
    found = in_closed_shadow(
        page,
        SHEET_ID,
        f"""function () {{
          const a = [...this.querySelectorAll('a')].find(a => a.getAttribute('href') === {href!r});
          a.scrollIntoView({{block: 'center'}});
          const r = a.getBoundingClientRect();
          return {{x: r.x + Math.min(r.width / 2, 20), y: r.y + r.height / 2}};
        }}""",
    )
    assert isinstance(found, dict)
    return found


@pytest.fixture
def no_script_tab(served: Served) -> Iterator[Any]:
    """A new tab of a browser with JavaScript off: Streamlit never starts."""
    browser = served.page.context.browser  # type: ignore[attr-defined]
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, java_script_enabled=False
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        yield page
    finally:
        context.close()


def test_without_javascript_the_previews_links_open_the_runs(
    served: Served, no_script_tab: Any
) -> None:
    runs, page = served.seeded.runs, no_script_tab
    failed = _api(served, f"/agent/runs/{runs.failed}")
    # The runs list: a task opens its run.
    page.goto(served.url + "/")
    assert f"run?run={runs.failed}" in _preview(page, LINKS)
    assert "needs JavaScript" in _preview(page, SHADOW_TEXT)
    spot = _link_position(page, f"run?run={runs.failed}")
    page.mouse.click(spot["x"], spot["y"])
    page.wait_for_url(re.compile(rf"/run\?run={runs.failed}$"))
    heading = _preview(page, "function () { return this.querySelector('h2').textContent }")
    assert heading == one_line(failed["task"], 160)
    # A step of the run: its deep link.
    spot = _link_position(page, f"run?run={runs.failed}&step=2")
    page.mouse.click(spot["x"], spot["y"])
    page.wait_for_url(re.compile(rf"/run\?run={runs.failed}&step=2$"))
    # Live: a just-finished run; compare: a side's run.
    for start in ("/live", f"/compare?a={runs.completed}&b={runs.failed}"):
        page.goto(served.url + start)
        spot = _link_position(page, f"run?run={runs.failed}")
        page.mouse.click(spot["x"], spot["y"])
        page.wait_for_url(re.compile(rf"/run\?run={runs.failed}$"))
        assert _preview(page, "function () { return this.querySelector('h2').textContent }")


def test_while_scripts_run_a_click_on_the_preview_does_nothing(
    served: Served, blocked_tab: Any
) -> None:
    runs = served.seeded.runs
    url = f"{served.url}/compare?a={runs.completed}&b={runs.failed}"
    blocked_tab.goto(url)
    spot = _link_position(blocked_tab, f"run?run={runs.failed}")
    host = blocked_tab.locator(PREVIEW)
    assert host.get_attribute("aria-hidden") == "true"
    assert blocked_tab.evaluate(f"document.getElementById('{SHEET_ID}').inert") is True
    blocked_tab.mouse.click(spot["x"], spot["y"])
    # The page stays (a navigation would have begun at once); the link is not focusable.
    blocked_tab.wait_for_function("document.readyState === 'complete'")
    assert blocked_tab.url == url
    blocked_tab.keyboard.press("Tab")
    assert blocked_tab.evaluate("document.activeElement === document.body")


OTHER_PAGES = [
    # page, its path (ids filled in), what Streamlit draws before the preview may go
    ("compare", "/compare?a={completed}&b={failed}", "grid"),
    ("live", "/live", "metric"),
    ("stats", "/stats", "chart"),
    ("costs", "/stats?view=costs", "chart"),
    ("sql", "/sql", "form"),
    ("started", "/?started={today}", "grid"),
]


def _path(served: Served, template: str) -> str:
    runs = served.seeded.runs
    return template.format(completed=runs.completed, failed=runs.failed, today=_today())


# Notes, when the preview is removed, what of each kind Streamlit has drawn underneath,
# and whether the preview had been on screen (two frames after it is whole in the DOM,
# still there): a preview that came after Streamlit's first element goes before it is
# painted (test_a_slow_api_never_holds_streamlit_back), and then there is no swap to see.
RECORD_SWAP_ANY = """(() => {
  const drawn = (s) => [...document.querySelectorAll(s)].some(e => {
    const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; });
  const alerted = () => !!document.querySelector('[data-testid=stAlert]');
  new MutationObserver((changes, observer) => {
    for (const change of changes) {
      for (const node of change.removedNodes) {
        if (node.id === 'page-preview') {
          window.__swap = {
            grid: drawn('[data-testid=stDataFrame] canvas'),
            metric: drawn('[data-testid=stMetric]') || alerted(),
            chart: drawn('.vega-embed canvas, .vega-embed svg') || alerted(),
            form: drawn('[data-testid=stMain] textarea'),
            painted: window.__previewPainted === true,
            at: performance.now()};
          observer.disconnect();
        }
      }
    }
  }).observe(document, {childList: true, subtree: true});
  new MutationObserver((changes, observer) => {
    const host = document.getElementById('page-preview');
    if (!host || !host.nextElementSibling) return;
    observer.disconnect();
    requestAnimationFrame(() => requestAnimationFrame(() => {
      window.__previewPainted = host.isConnected;
    }));
  }).observe(document, {childList: true, subtree: true});
})()"""
ATTEMPTS = 4  # new tabs until one gets its preview before Streamlit's first element


@pytest.mark.parametrize(("name", "path", "drawn"), OTHER_PAGES, ids=[p[0] for p in OTHER_PAGES])
def test_each_pages_preview_goes_once_streamlit_drew_its_content(
    served: Served, name: str, path: str, drawn: str
) -> None:
    browser = served.page.context.browser  # type: ignore[attr-defined]
    swaps = []
    for _ in range(ATTEMPTS):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.add_init_script(RECORD_SWAP_ANY)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        try:
            page.goto(served.url + _path(served, path))
            page.wait_for_function("() => window.__swap !== undefined", timeout=4 * WAIT_MS)
            swaps.append(page.evaluate("window.__swap"))
            assert page.locator(PREVIEW).count() == 0
        finally:
            context.close()
        if swaps[-1]["painted"]:
            break
    shown = [swap for swap in swaps if swap["painted"]]
    assert shown, f"{name}: no preview was on screen in {ATTEMPTS} new tabs: {swaps}"
    for swap in shown:
        assert swap[drawn], f"{name}: the preview went before Streamlit drew its {drawn}: {swap}"


@pytest.mark.parametrize("scheme", ["dark", "light"])
@pytest.mark.parametrize(("name", "path", "_drawn"), OTHER_PAGES, ids=[p[0] for p in OTHER_PAGES])
def test_each_preview_fits_a_phone_and_is_legible_in_both_themes(
    served: Served, blocked_tab: Any, name: str, path: str, _drawn: str, scheme: str
) -> None:
    blocked_tab.set_viewport_size({"width": 390, "height": 844})
    blocked_tab.emulate_media(color_scheme=scheme)
    blocked_tab.goto(served.url + _path(served, path))
    look = _preview(
        blocked_tab,
        """function () {
          const host = this.host.parentElement, main = this.querySelector('main');
          const colour = (e) => getComputedStyle(e).color;
          const shown = (s) => [...new Set([...this.querySelectorAll(s)]
            .filter(e => e.offsetParent).map(colour))];
          return {
            sideways: Math.max(host.scrollWidth, main.scrollWidth) - host.clientWidth,
            width: host.clientWidth,
            background: getComputedStyle(this.host).backgroundColor,
            text: shown('td, dd, h1, h2, .editor, a'),
            notes: shown('.note, dt'),
          };
        }""",
    )
    assert look["width"] <= 390 and look["sideways"] <= 0, (name, look)
    assert look["text"], look
    # Text and links at WCAG AA's 4.5:1; the muted notes and labels (Streamlit's own
    # captions are as muted) at 3:1.
    for colour in look["text"]:
        assert contrast_ratio(colour, look["background"]) >= 4.5, (name, scheme, colour, look)
    for colour in look["notes"]:
        assert contrast_ratio(colour, look["background"]) >= 3.0, (name, scheme, colour, look)
    if scheme == "dark":
        assert contrast_ratio("rgb(255, 255, 255)", look["background"]) > 10  # a dark sheet
    screenshot(blocked_tab, f"preview-{name}-{scheme}-phone.png")
