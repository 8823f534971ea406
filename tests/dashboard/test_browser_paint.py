"""What the dashboard does to paint sooner, checked in a real Chromium.

- A deep link (``/run?run=...``) connects to the server's root on its first try:
  the page document carries the base-URL hint (dashboard/base_url_hint.py), so the
  browser never asks ``/run/_stcore/health`` first, and it opens its websocket
  without waiting for ``/_stcore/health`` and ``/_stcore/host-config``.
- The phone-width runs list is one component of plain links (dashboard/run_links.py):
  stored text stays text, and a click opens the run in the same page.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from dashboard.static_assets import MIN_GZIP_BYTES, streamlit_static_dir
from tests.dashboard.agents import HOSTILE_RESULT, send_long_run
from tests.dashboard.browser_support import Served
from tests.dashboard.conftest import api_runs, step_count, traced_into
from tests.support import wait_until

pytestmark = pytest.mark.browser


def test_the_page_document_carries_the_base_url_hint(served: Served) -> None:
    for path in ("/", "/run?run=x", "/stats", "/no-such-page"):
        document = httpx.get(served.url + path, headers={"Accept-Encoding": "gzip"}, timeout=10)
        assert document.status_code == 200
        assert "content-encoding" not in document.headers  # edited, so sent as it is
        head = document.text.split("<head>", 1)[1]
        assert head.lstrip().startswith("<script>"), "the hint must run before Streamlit's module"
        assert "BACKEND_BASE_URL" in head.split("</script>", 1)[0]
        if "content-length" in document.headers:
            assert int(document.headers["content-length"]) == len(document.content)
        else:  # streamed: every page's document carries a preview
            assert document.headers["transfer-encoding"] == "chunked"
            assert path != "/no-such-page"
    # Streamlit's own files are passed through untouched.
    health = httpx.get(served.url + "/_stcore/health", timeout=10)
    assert health.status_code == 200 and "BACKEND_BASE_URL" not in health.text


def test_a_deep_link_asks_the_server_root_only(served: Served) -> None:
    page, run_id = served.page, served.seeded.runs.failed
    asked: list[str] = []

    def note(request: object) -> None:
        asked.append(str(request.url))  # type: ignore[attr-defined]

    page.on("request", note)  # type: ignore[attr-defined]
    try:
        page.goto(f"{served.url}/run?run={run_id}")  # type: ignore[attr-defined]
        page.locator(".tree .row").first.wait_for()  # type: ignore[attr-defined]
    finally:
        page.remove_listener("request", note)  # type: ignore[attr-defined]
    probes = [url for url in asked if "/_stcore/health" in url]
    assert probes, asked
    assert all(url == f"{served.url}/_stcore/health" for url in probes), probes


# When Streamlit's websocket is created, and when its health and host-config answers came.
RECORD_CONNECT = """(() => {
  window.__connect = {answered: []};
  const Original = window.WebSocket;
  window.WebSocket = function (...args) {
    window.__connect.socket ??= performance.now();
    return new Original(...args);
  };
  window.WebSocket.prototype = Original.prototype;
  Object.assign(window.WebSocket, Original);
  const fetchOriginal = window.fetch;
  window.fetch = async function (...args) {
    const answer = await fetchOriginal.apply(this, args);
    const url = String(args[0] && args[0].url || args[0]);
    if (/_stcore\\/(health|host-config)/.test(url)) {
      window.__connect.answered.push(performance.now());
    }
    return answer;
  };
})()"""


def test_the_websocket_opens_without_waiting_for_the_health_check(served: Served) -> None:
    browser = served.page.context.browser  # type: ignore[attr-defined]
    context = browser.new_context()
    context.add_init_script(RECORD_CONNECT)
    page = context.new_page()
    try:
        page.goto(f"{served.url}/run?run={served.seeded.runs.failed}")
        page.locator(".tree .row").first.wait_for()
        connect = page.evaluate("window.__connect")
        config = page.evaluate("window.__streamlit.HOST_CONFIG")
    finally:
        context.close()
    assert connect["answered"], "Streamlit still asks health and host-config (in the background)"
    assert connect["socket"] < min(connect["answered"]), connect
    assert config == {"allowedOrigins": [served.url], "useExternalAuthToken": False}


def test_a_prefix_the_dashboard_does_not_know_keeps_streamlits_probing(served: Served) -> None:
    # The hint is left out for a path whose last part is not a page of the dashboard.
    page = served.page
    page.goto(f"{served.url}/no-such-page")  # type: ignore[attr-defined]
    page.locator("[data-testid=stApp]").wait_for()  # type: ignore[attr-defined]
    assert page.evaluate("window.__streamlit === undefined")  # type: ignore[attr-defined]
    page.goto(f"{served.url}/live")  # type: ignore[attr-defined]
    assert page.evaluate("window.__streamlit.BACKEND_BASE_URL") == served.url + "/"  # type: ignore[attr-defined]


def test_phone_list_links_show_stored_text_as_text_and_open_the_run(served: Served) -> None:
    page, runs = served.page, served.seeded.runs
    page.set_viewport_size({"width": 390, "height": 844})  # type: ignore[attr-defined]
    try:
        page.goto(served.url)  # type: ignore[attr-defined]
        hostile = page.get_by_role("link", name=re.compile("Render test"))  # type: ignore[attr-defined]
        hostile.wait_for()
        # The task is in the link's text, markup and all (cut at 80 characters); none of it ran.
        assert HOSTILE_RESULT.split(" <script>")[0] in (hostile.text_content() or "")
        assert page.locator(".runs-list img, .runs-list script").count() == 0  # type: ignore[attr-defined]
        assert page.title() != "pwned"  # type: ignore[attr-defined]
        link = page.get_by_role("link", name=re.compile("Restart homepage"))  # type: ignore[attr-defined]
        assert link.get_attribute("href") == f"run?run={runs.failed}"
        assert "started" in (link.get_attribute("title") or "")
        page.evaluate("window.__sameDocument = true")  # type: ignore[attr-defined]
        link.click()
        page.wait_for_url(re.compile(rf"/run\?run={runs.failed}"))  # type: ignore[attr-defined]
        page.locator(".tree .row").first.wait_for()  # type: ignore[attr-defined]
        assert page.evaluate("window.__sameDocument === true")  # type: ignore[attr-defined]
    finally:
        page.set_viewport_size({"width": 1400, "height": 1600})  # type: ignore[attr-defined]


def _index_script(url: str) -> str:
    """The path of Streamlit's main module, as the page document names it."""
    document = httpx.get(url + "/", timeout=10).text
    found = re.search(r'src="\./(static/js/index\.[^"]+\.js)"', document)
    assert found, document[:500]
    return found.group(1)


def test_streamlits_files_come_gzipped_from_memory_with_their_headers(served: Served) -> None:
    relative = _index_script(served.url)
    on_disk = (streamlit_static_dir() / relative).read_bytes()
    url = f"{served.url}/{relative}"
    packed = httpx.get(url, headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert packed.status_code == 200
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(on_disk) / 2
    assert packed.content == on_disk  # httpx undoes the gzip: the same bytes
    assert packed.headers["cache-control"] == "public, immutable, max-age=31536000"
    assert packed.headers["vary"] == "Accept-Encoding"
    assert packed.headers["content-type"] in ("text/javascript", "application/javascript")
    plain = httpx.get(url, headers={"Accept-Encoding": "identity"}, timeout=10)
    assert "content-encoding" not in plain.headers and plain.content == on_disk
    assert plain.headers["etag"] != packed.headers["etag"]
    again = httpx.get(
        url,
        headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["etag"]},
        timeout=10,
    )
    assert again.status_code == 304 and again.content == b""
    head = httpx.head(url, headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == packed.headers["content-length"]


def test_other_static_paths_get_streamlits_own_answers(served: Served) -> None:
    # Not a plain name under static/: Streamlit's checks answer (never a file outside).
    for path in ("/static/../../../../etc/passwd", "/static//etc/passwd", "/static/js/%2e%2e"):
        answer = httpx.get(served.url + path, timeout=10)
        assert "root:" not in answer.text, path
    # A missing file falls back to Streamlit's page document (no-cache), as without this.
    missing = httpx.get(served.url + "/static/js/no-such-file.js", timeout=10)
    assert missing.headers.get("cache-control") == "no-cache"
    assert "content-encoding" not in missing.headers


def test_a_new_tab_gets_every_script_gzipped(served: Served) -> None:
    page = served.page
    scripts: dict[str, tuple[str, int]] = {}

    def note(response: object) -> None:
        url = str(response.url)  # type: ignore[attr-defined]
        if "/static/js/" in url:
            headers = response.headers  # type: ignore[attr-defined]
            scripts[url] = (headers.get("content-encoding", ""), int(headers["content-length"]))

    context = page.context.browser.new_context()  # type: ignore[attr-defined]
    tab = context.new_page()
    tab.on("response", note)
    try:
        tab.goto(f"{served.url}/sql")
        tab.locator("textarea").first.wait_for()
    finally:
        context.close()
    assert len(scripts) > 20, scripts
    # Files under 1 kB are sent as they are (gzip would not pay); every other one gzipped.
    plain = {url: size for url, (coding, size) in scripts.items() if coding != "gzip"}
    assert all(size < MIN_GZIP_BYTES for size in plain.values()), plain
    assert len(plain) < len(scripts) / 2, plain


# Last in this module: it records one more run.
def test_a_long_runs_log_draws_a_step_when_it_is_opened_and_the_tree_every_row(
    served: Served,
) -> None:
    from playwright.sync_api import expect

    page = served.page
    traced_into(served.collector)  # an AppTest module may have pointed it elsewhere
    run_id = send_long_run(steps=60, failing_step=12)

    def stored() -> bool:
        finished = any(
            r["id"] == run_id and r["status"] == "completed"
            for r in api_runs(served.seeded.api_url)
        )
        return finished and step_count(served.seeded.api_url, run_id) == 60

    wait_until(stored, timeout_s=20, what="the 60-step run stored")
    page.goto(f"{served.url}/run?run={run_id}")  # type: ignore[attr-defined]
    # The tree draws its first rows at once and the rest right after: all 60 arrive.
    expect(page.locator(".tree .row")).to_have_count(60)  # type: ignore[attr-defined]
    assert page.locator(".tree .rows[data-pending]").count() == 0  # type: ignore[attr-defined]

    def log_entry(number: int) -> Any:
        return page.get_by_test_id("stExpander").filter(  # type: ignore[attr-defined]
            has_text=re.compile(rf"Step {number} \D")
        )

    # A closed entry of the log sends its title only; opening it draws its details.
    seventh = log_entry(7)
    expect(seventh).to_have_count(1)
    expect(seventh.get_by_test_id("stCode")).to_have_count(0)  # type: ignore[attr-defined]
    seventh.locator("summary").click()  # type: ignore[attr-defined]
    expect(seventh.get_by_test_id("stCode").first).to_contain_text("vol-007")  # type: ignore[attr-defined]
    expect(seventh).to_contain_text("vol-007 is 7% used")  # type: ignore[attr-defined]
    # A failed step starts open, with its error, without a click.
    expect(log_entry(12)).to_contain_text("volume vol-012 is not mounted")
    # Another entry stays closed and empty.
    expect(log_entry(8).get_by_test_id("stCode")).to_have_count(0)  # type: ignore[attr-defined]
