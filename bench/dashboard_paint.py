"""How fast each dashboard page paints in a real browser with 100k runs stored.

Builds (or reuses) a DuckDB file of ``--runs`` agent runs with bench.dataset's
SQL path, starts the real collector on it (or uses ``--api``) and ``agent-audit
dashboard`` against it, then opens every page in headless Chromium (Playwright,
/usr/bin/chromium) ``--repeat`` times, each in a fresh browser context (a new
Streamlit session, as a person opening a link). For each page it prints:

- ``fcp``: the browser's first contentful paint (the page's preview where the
  document carries one, else Streamlit's page frame);
- ``preview``: navigation start until the preview the page document carries (the
  runs list's rows, a run's header and steps: dashboard/page_preview.py) is on
  screen (the second animation frame after it is in the DOM, so a frame with it
  has been painted); "–" for pages without one;
- ``content``: navigation start until Streamlit's own drawing of the page's content
  is visible (the runs table's first row drawn on its canvas, not its
  accessibility cells, which come 300-400 ms later; the first row of the span tree;
  a chart...) and the preview covering it is gone;
- ``1st``: the first of those loads, when no cache of the dashboard process holds
  the page's data yet (later loads within the cache's few seconds reuse it);
- ``dash cpu`` / ``api cpu``: CPU time the dashboard's Streamlit process and the
  collector spent per cold load (less sensitive to a busy machine than wall
  time; the rest of a load is the browser and waiting for a core);
- ``warm``: the same, in a new tab of a browser that opened the dashboard before
  (Streamlit's JavaScript comes from the browser's cache; still a new session).
- ``in-app``: the page opened from another page (SQL) of a tab that is already
  open, as the browser's Back/Forward or a link inside the dashboard does it (the
  URL changes, the open session reruns with the new page; no new document, no new
  JavaScript to start); measured after one first visit of the page in that tab,
  which loads the code of its elements.

A second table splits each new-tab load (cold / warm) into milestones since the
navigation started: Streamlit's app started (its scripts loaded and run: its first
request to ``/_stcore/``; not DOMContentLoaded, which a document holding a preview
reaches only when the preview is in), its websocket open, the server's first message (the page's
script is running), and the content.

With ``--baseline TREE`` a second dashboard is started from another checkout
(e.g. ``/work/main``) against the same collector, and each load of a page
alternates between the two, so both see the same machine load; the table then
gives both p50s and their ratio. ``--baseline-env NAME=VALUE`` starts the
baseline with a setting changed (from this tree unless ``--baseline`` names
another), e.g. ``AGENT_AUDIT_DASHBOARD_PREVIEW_WAIT_S=0`` to measure the preview
against no preview; a third table then gives, per page, when the content was first
on screen (the preview where it came, else Streamlit's own) and when Streamlit's
own content was drawn, p50 / p95, with baseline / this ratios.

Usage::

    PYTHONPATH=$PWD python -m bench.dashboard_paint --runs 100000 --repeat 5
    PYTHONPATH=$PWD python -m bench.dashboard_paint --db paint.duckdb --baseline /work/main
    PYTHONPATH=$PWD python -m bench.dashboard_paint --db paint.duckdb \
        --baseline-env AGENT_AUDIT_DASHBOARD_PREVIEW_WAIT_S=0
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx

from bench.collector_proc import REPO, percentile, proc_cpu_s, spawn_collector
from bench.dataset import build_via_sql, long_run_indexes, sql_run_id

TARGET_MS = 500.0
CHROMIUM = "/usr/bin/chromium"


# A table (st.dataframe) draws its rows on a canvas; its cells for accessibility
# ([role=gridcell]) come 300-400 ms after the rows are on screen, so a table counts as
# drawn when the canvas's first row holds more colours than empty grid lines (text).
GRID_PAINTED = """() => {
  const dpr = window.devicePixelRatio || 1;
  for (const canvas of document.querySelectorAll('[data-testid=stDataFrame] canvas')) {
    if (!canvas.width || !canvas.height || !canvas.offsetParent) continue;
    const y = Math.min(canvas.height - 1, Math.round(52 * dpr));  // header 35 px, then row 1
    const line = canvas.getContext('2d').getImageData(0, y, canvas.width, 1).data;
    const colours = new Set();
    for (let i = 0; i < line.length; i += 4) {
      colours.add(line[i] << 24 | line[i + 1] << 16 | line[i + 2] << 8 | line[i + 3]);
    }
    if (colours.size > 8) return true;
  }
  return false;
}"""


# Notes when the page's preview is on screen: the second animation frame after it is
# whole in the DOM (the parser has gone past its host: its swap script follows it), so
# a frame with it has been painted; not when it removed itself at once (it came after
# Streamlit had drawn its first element).
PREVIEW_SEEN = """(() => {
  const seen = () => {
    const host = document.getElementById('page-preview');
    return host && host.nextElementSibling ? host : null;
  };
  const note = (host) => requestAnimationFrame(() => requestAnimationFrame(() => {
    if (host.isConnected) window.__previewShown = performance.now();
  }));
  const observer = new MutationObserver(() => {
    const host = seen();
    if (host) { observer.disconnect(); note(host); }
  });
  observer.observe(document, {childList: true, subtree: true});
  addEventListener('load', () => observer.disconnect());
})()"""
PREVIEW_GONE = "() => !document.getElementById('page-preview')"


@dataclass(frozen=True)
class PageCase:
    """One page to open and what means its content is on screen."""

    name: str
    path: str
    # A CSS selector that must be visible (Playwright pierces the tree component's
    # shadow root), or GRID for a table whose rows are drawn.
    ready: str


GRID = "grid"


@dataclass
class Dashboard:
    """One ``agent-audit dashboard`` process, from one source tree."""

    label: str
    tree: Path
    process: subprocess.Popen[bytes]
    url: str
    env: dict[str, str] = field(default_factory=dict)  # set on top of this process's
    firsts: dict[str, list[float]] = field(default_factory=dict)  # preview, else content
    warm_firsts: dict[str, list[float]] = field(default_factory=dict)
    contents: dict[str, list[float]] = field(default_factory=dict)
    paints: dict[str, list[float]] = field(default_factory=dict)
    warm_contents: dict[str, list[float]] = field(default_factory=dict)
    warm_paints: dict[str, list[float]] = field(default_factory=dict)
    previews: dict[str, list[float]] = field(default_factory=dict)
    warm_previews: dict[str, list[float]] = field(default_factory=dict)
    in_app: dict[str, list[float]] = field(default_factory=dict)
    cpu_ms: dict[str, list[float]] = field(default_factory=dict)
    api_cpu_ms: dict[str, list[float]] = field(default_factory=dict)
    cold_phases: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    warm_phases: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def server_pids(self) -> list[int]:
        """``agent-audit dashboard`` and its Streamlit child (CPU counted while alive)."""
        pids = [self.process.pid]
        for task in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
            pids += [int(p) for p in task.read_text().split()]
        return pids

    def cpu_s(self) -> float:
        return sum(proc_cpu_s(pid) for pid in self.server_pids())


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_dashboard(
    label: str, tree: Path, api_url: str, log: Path, extra_env: dict[str, str] | None = None
) -> Dashboard:
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(tree), **(extra_env or {}))
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "dashboard", "--api", api_url,
             "--port", str(port)],
            cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dashboard ({tree}) exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                return Dashboard(label, tree, process, url, dict(extra_env or {}))
        except httpx.TransportError:
            pass
        time.sleep(0.2)  # polling interval while the server starts
    process.kill()
    raise RuntimeError("the dashboard did not start in 90 s")


def _stop(dashboard: Dashboard) -> None:
    if dashboard.process.poll() is None:
        dashboard.process.send_signal(signal.SIGTERM)
        try:
            dashboard.process.wait(30)
        except subprocess.TimeoutExpired:
            dashboard.process.kill()


def _sql_answer(api_url: str, sql: str) -> dict[str, Any]:
    """``POST /sql``, waiting out its 503 while the collector builds its /sql copy."""
    deadline = time.monotonic() + 300
    while True:
        answer = httpx.post(f"{api_url}/sql", json={"sql": sql}, timeout=120)
        if answer.status_code != 503 or time.monotonic() > deadline:
            body: dict[str, Any] = answer.json()
            return body
        time.sleep(float(answer.headers.get("retry-after") or 1))  # the collector's hint


def _sample_ids(api_url: str | None, db_path: Path | None, runs: int) -> tuple[str, str, str, str]:
    """A failed run, a completed run and the longest run (100 steps), by id; and the
    day (UTC, ``YYYY-MM-DD``) the latest run started."""
    long_id = sql_run_id(long_run_indexes(runs)[0])
    latest = "SELECT id FROM agent_runs WHERE status = '{}' ORDER BY started_at DESC LIMIT 1"
    failed_sql, good_sql = latest.format("failed"), latest.format("completed")
    day_sql = "SELECT strftime(max(started_at), '%Y-%m-%d') FROM agent_runs"
    found: list[str] = []
    if api_url is not None:
        for sql in (failed_sql, good_sql, day_sql):
            body = _sql_answer(api_url, sql)
            rows = body.get("rows") or []
            found.append(str(rows[0][0]) if rows else long_id)
    else:
        assert db_path is not None
        con = duckdb.connect(str(db_path), read_only=True)
        try:
            for sql in (failed_sql, good_sql, day_sql):
                row = con.execute(sql).fetchone()
                found.append(str(row[0]) if row else long_id)
        finally:
            con.close()
    return found[0], found[1], long_id, found[2]


def _cases(failed: str, good: str, long_id: str, day: str) -> list[PageCase]:
    return [
        PageCase("runs (list)", "/", GRID),
        PageCase("runs, ?status=failed", "/?status=failed", GRID),
        PageCase("runs, ?started=<day>", f"/?started={day}", GRID),
        PageCase("run (9 steps), a step open", f"/run?run={failed}&step=2", ".tree .row"),
        PageCase("run (100 steps)", f"/run?run={long_id}", ".tree .row"),
        PageCase("compare", f"/compare?a={good}&b={failed}", GRID),
        PageCase("live", "/live", "[data-testid=stMetric], [data-testid=stAlert]"),
        PageCase("stats", "/stats", ".vega-embed canvas, .vega-embed svg"),
        PageCase(
            "stats, ?view=costs",
            "/stats?view=costs",
            ".vega-embed canvas, .vega-embed svg, [data-testid=stAlert]",
        ),
        PageCase("sql", "/sql", "textarea"),
    ]


@dataclass
class Load:
    """One page load in a new tab: when its content showed, and where the time went (ms)."""

    content: float
    fcp: float | None
    preview: float | None  # the document's preview on screen; None: the page had none
    # Milestones since navigation start: Streamlit's app started (its first request
    # to /_stcore/), its websocket opened, its first message from the
    # server received (the page's script has started sending elements).
    phases: dict[str, float] = field(default_factory=dict)


PHASES = ("app started", "ws open", "1st message")


def _load_once(browser: Any, url: str, case: PageCase, context: Any = None) -> Load:
    """One load; in a fresh context (empty browser cache) unless ``context`` is given."""
    own = context is None
    if own:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.add_init_script(PREVIEW_SEEN)
    page = context.new_page()
    began = 0.0
    phases: dict[str, float] = {}

    def on_websocket(socket: Any) -> None:
        phases.setdefault("ws open", (time.perf_counter() - began) * 1000)

        def on_frame(_payload: Any) -> None:
            phases.setdefault("1st message", (time.perf_counter() - began) * 1000)

        socket.on("framereceived", on_frame)

    page.on("websocket", on_websocket)
    try:
        began = time.perf_counter()
        page.goto(url + case.path)
        _wait_ready(page, case)
        # Streamlit's content counts once the preview over it is gone.
        page.wait_for_function(PREVIEW_GONE, polling="raf", timeout=60_000)
        content = (time.perf_counter() - began) * 1000
        marks = page.evaluate(
            """() => ({
              fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
              started: (performance.getEntriesByType('resource')
                .find(r => r.name.includes('/_stcore/')) || {}).startTime,
              preview: window.__previewShown,
            })"""
        )
        if marks.get("started") is not None:
            phases["app started"] = float(marks["started"])
        fcp, preview = marks.get("fcp"), marks.get("preview")
        return Load(
            content,
            float(fcp) if fcp is not None else None,
            float(preview) if preview is not None else None,
            phases,
        )
    finally:
        page.close()
        if own:
            context.close()


# Streamlit's client-side page switch, as the browser's Back/Forward triggers it: the URL
# changes in the same tab and the open session reruns with the new page and query.
_SWITCH = """(url) => {
  history.pushState({}, '', url);
  dispatchEvent(new PopStateEvent('popstate', {state: {}}));
}"""
_SQL_PAGE = PageCase("sql", "/sql", "textarea")
_LIVE_PAGE = PageCase("live", "/live", "[data-testid=stMetric], [data-testid=stAlert]")


def _wait_ready(page: Any, case: PageCase) -> None:
    if case.ready == GRID:
        page.wait_for_function(GRID_PAINTED, polling="raf", timeout=60_000)
    else:
        page.locator(case.ready).first.wait_for(state="visible", timeout=60_000)


def _switch_once(page: Any, case: PageCase) -> float:
    """From another page to ``case`` inside one open tab; ms until its content shows.

    The other page is SQL (Live for the SQL page itself). The tab goes back to the
    SQL page afterwards, so no live page refreshes behind the other loads.
    """
    hub = _LIVE_PAGE if case.path == _SQL_PAGE.path else _SQL_PAGE
    if hub is not _SQL_PAGE:
        page.evaluate(_SWITCH, hub.path)
        _wait_ready(page, hub)
    page.wait_for_timeout(200)  # let the page settle; not part of the figure
    began = time.perf_counter()
    page.evaluate(_SWITCH, case.path)
    _wait_ready(page, case)
    took = (time.perf_counter() - began) * 1000
    page.evaluate(_SWITCH, _SQL_PAGE.path)
    _wait_ready(page, _SQL_PAGE)
    return took


def _keep_phases(into: dict[str, dict[str, list[float]]], page: str, load: Load) -> None:
    for name, ms in load.phases.items():
        into.setdefault(page, {}).setdefault(name, []).append(ms)


def measure(
    dashboards: list[Dashboard], cases: list[PageCase], repeat: int, api_pid: int | None
) -> None:
    """Open each page ``repeat`` times per dashboard, alternating; keep timings per page."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            warm: dict[str, Any] = {}
            for dashboard in dashboards:
                # The server's first page load compiles and caches its static assets; the
                # warm context keeps them in its cache, as a returning person's browser.
                warm[dashboard.label] = browser.new_context(
                    viewport={"width": 1400, "height": 1000}
                )
                warm[dashboard.label].add_init_script(PREVIEW_SEEN)
                _load_once(browser, dashboard.url, cases[0], warm[dashboard.label])
            tabs: dict[str, Any] = {}
            for dashboard in dashboards:
                tabs[dashboard.label] = warm[dashboard.label].new_page()
                tabs[dashboard.label].goto(dashboard.url + _SQL_PAGE.path)
                _wait_ready(tabs[dashboard.label], _SQL_PAGE)
            for case in cases:
                for dashboard in dashboards:
                    # The first visit of a page in a tab loads its elements' code.
                    _switch_once(tabs[dashboard.label], case)
                for _ in range(repeat):
                    for dashboard in dashboards:
                        took = _switch_once(tabs[dashboard.label], case)
                        dashboard.in_app.setdefault(case.name, []).append(took)
                        cpu_before = dashboard.cpu_s()
                        api_before = proc_cpu_s(api_pid) if api_pid else 0.0
                        load = _load_once(browser, dashboard.url, case)
                        content, fcp = load.content, load.fcp
                        _keep_phases(dashboard.cold_phases, case.name, load)
                        cpu = (dashboard.cpu_s() - cpu_before) * 1000
                        dashboard.cpu_ms.setdefault(case.name, []).append(cpu)
                        if api_pid:
                            api = (proc_cpu_s(api_pid) - api_before) * 1000
                            dashboard.api_cpu_ms.setdefault(case.name, []).append(api)
                        dashboard.contents.setdefault(case.name, []).append(content)
                        first = min(content, load.preview or content)
                        dashboard.firsts.setdefault(case.name, []).append(first)
                        if fcp is not None:
                            dashboard.paints.setdefault(case.name, []).append(fcp)
                        if load.preview is not None:
                            dashboard.previews.setdefault(case.name, []).append(load.preview)
                        context = warm[dashboard.label]
                        load = _load_once(browser, dashboard.url, case, context)
                        content, fcp = load.content, load.fcp
                        _keep_phases(dashboard.warm_phases, case.name, load)
                        dashboard.warm_contents.setdefault(case.name, []).append(content)
                        first = min(content, load.preview or content)
                        dashboard.warm_firsts.setdefault(case.name, []).append(first)
                        if fcp is not None:
                            dashboard.warm_paints.setdefault(case.name, []).append(fcp)
                        if load.preview is not None:
                            dashboard.warm_previews.setdefault(case.name, []).append(load.preview)
        finally:
            browser.close()


def summary(dashboards: list[Dashboard], cases: list[PageCase]) -> list[dict[str, Any]]:
    """One row per page: each dashboard's fcp p50, first load, content p50/p95."""
    rows = []
    for case in cases:
        row: dict[str, Any] = {"page": case.name, "path": case.path}
        for dashboard in dashboards:
            contents = dashboard.contents.get(case.name) or []
            paints = dashboard.paints.get(case.name) or []
            warm = dashboard.warm_contents.get(case.name) or []
            warm_paints = dashboard.warm_paints.get(case.name) or []
            cpu = dashboard.cpu_ms.get(case.name) or []
            in_app = dashboard.in_app.get(case.name) or []
            api_cpu = dashboard.api_cpu_ms.get(case.name) or []
            previews = dashboard.previews.get(case.name) or []
            warm_previews = dashboard.warm_previews.get(case.name) or []
            firsts = dashboard.firsts.get(case.name) or []
            warm_firsts = dashboard.warm_firsts.get(case.name) or []
            row[dashboard.label] = {
                "first_p50_ms": round(percentile(firsts, 50)) if firsts else None,
                "first_p95_ms": round(percentile(firsts, 95)) if firsts else None,
                "warm_first_p50_ms": round(percentile(warm_firsts, 50)) if warm_firsts else None,
                "warm_first_p95_ms": round(percentile(warm_firsts, 95)) if warm_firsts else None,
                "warm_content_p95_ms": round(percentile(warm, 95)) if warm else None,
                "preview_p50_ms": round(percentile(previews, 50)) if previews else None,
                "warm_preview_p50_ms": (
                    round(percentile(warm_previews, 50)) if warm_previews else None
                ),
                "preview_loads": f"{len(previews)}/{len(contents)}",
                "preview_ms": [round(p) for p in previews],
                "warm_preview_ms": [round(p) for p in warm_previews],
                "fcp_p50_ms": round(percentile(paints, 50)) if paints else None,
                "first_ms": round(contents[0]) if contents else None,
                "content_p50_ms": round(percentile(contents, 50)),
                "content_p95_ms": round(percentile(contents, 95)),
                "warm_fcp_p50_ms": round(percentile(warm_paints, 50)) if warm_paints else None,
                "warm_content_p50_ms": round(percentile(warm, 50)),
                "in_app_p50_ms": round(percentile(in_app, 50)) if in_app else None,
                "in_app_loads_ms": [round(c) for c in in_app],
                "dashboard_cpu_p50_ms": round(percentile(cpu, 50)) if cpu else None,
                "api_cpu_p50_ms": round(percentile(api_cpu, 50)) if api_cpu else None,
                "loads_ms": [round(c) for c in contents],
                "warm_loads_ms": [round(c) for c in warm],
                "cold_phases_p50_ms": _phase_p50s(dashboard.cold_phases.get(case.name)),
                "warm_phases_p50_ms": _phase_p50s(dashboard.warm_phases.get(case.name)),
            }
        rows.append(row)
    return rows


def _phase_p50s(phases: dict[str, list[float]] | None) -> dict[str, int]:
    return {name: round(percentile(ms, 50)) for name, ms in (phases or {}).items() if ms}


def _print_phases(rows: list[dict[str, Any]], labels: list[str]) -> None:
    """Where a new tab's time goes, per tree: app started, websocket, 1st message, content."""
    print(
        "\nwhere a new tab's time goes (p50 ms since navigation start; cold / warm):"
        " Streamlit's app started (its first /_stcore/ request), its websocket open,"
        " the server's first message, the page's content"
    )
    header = f"{'page':27}" + "".join(f" {name:>13}" for name in (*PHASES, "content"))
    for label in labels:
        print(f"\n{label}\n{header}")
        for row in rows:
            mine = row[label]
            cells = []
            for name in PHASES:
                cold = mine["cold_phases_p50_ms"].get(name)
                warm = mine["warm_phases_p50_ms"].get(name)
                cells.append(f"{_opt(cold)} / {_opt(warm)}")
            cells.append(f"{mine['content_p50_ms']} / {mine['warm_content_p50_ms']}")
            print(f"{row['page']:27}" + "".join(f" {cell:>13}" for cell in cells))


def _print_firsts(rows: list[dict[str, Any]], labels: list[str]) -> None:
    """The page's content first on screen (the preview, else Streamlit's), p50 / p95."""
    print(
        "\nthe page's content first on screen (the document's preview where it came, else"
        " Streamlit's own), and Streamlit's own content drawn; p50 / p95 ms; cold / warm"
    )
    header = f"{'page':27}" + "".join(
        f" {label + ' ' + what:>25}" for label in labels for what in ("first", "streamlit")
    )
    if len(labels) > 1:
        header += f" {'first x':>13} {'streamlit x':>13}"
    print(header)
    for row in rows:
        cells = []
        for label in labels:
            mine = row[label]
            cells.append(
                f"{_opt(mine['first_p50_ms'])}/{_opt(mine['first_p95_ms'])}"
                f" · {_opt(mine['warm_first_p50_ms'])}/{_opt(mine['warm_first_p95_ms'])}"
            )
            cells.append(
                f"{mine['content_p50_ms']}/{mine['content_p95_ms']}"
                f" · {mine['warm_content_p50_ms']}/{_opt(mine['warm_content_p95_ms'])}"
            )
        line = f"{row['page']:27}" + "".join(f" {cell:>25}" for cell in cells)
        if len(labels) > 1:
            this, base = row[labels[0]], row[labels[1]]
            line += (
                f" {_ratio(base['first_p50_ms'], this['first_p50_ms'])}"
                f" · {_ratio(base['warm_first_p50_ms'], this['warm_first_p50_ms'])}"
                f" {_ratio(base['content_p50_ms'], this['content_p50_ms'])}"
                f" · {_ratio(base['warm_content_p50_ms'], this['warm_content_p50_ms'])}"
            )
        print(line)


def _ratio(base: float | None, this: float | None) -> str:
    """baseline / this: above 1, this is faster."""
    if not base or not this:
        return "   –"
    return f"{base / this:4.2f}x"


def _opt(value: object) -> str:
    return "–" if value is None else str(value)


def _verdict(ms: float) -> str:
    return "ok" if ms < TARGET_MS else "over"


def _print_table(rows: list[dict[str, Any]], labels: list[str]) -> None:
    this = labels[0]
    header = (
        f"{'page':27} {'fcp':>5} {'prev':>5} {'1st':>5} {'cold':>5} {'p95':>5} {'':4}"
        f" {'w.fcp':>5} {'w.prev':>6} {'warm':>5} {'':4} {'in-app':>6} {'':4}"
        f" {'dash cpu':>8} {'api cpu':>7}"
    )
    if len(labels) > 1:
        header += (
            f" | {'base cold':>9} {'base warm':>9} {'base in-app':>11}"
            f" {'cold x':>6} {'warm x':>6} {'in-app x':>8}"
            f" {'base dash cpu':>13} {'base api cpu':>12}"
        )
    print(header)
    for row in rows:
        mine = row[this]
        fcp = mine["fcp_p50_ms"] if mine["fcp_p50_ms"] is not None else "–"
        warm_fcp = mine["warm_fcp_p50_ms"] if mine["warm_fcp_p50_ms"] is not None else "–"
        cold, warm = mine["content_p50_ms"], mine["warm_content_p50_ms"]
        in_app = mine["in_app_p50_ms"] or 0
        line = (
            f"{row['page']:27} {fcp:>5} {_opt(mine['preview_p50_ms']):>5}"
            f" {mine['first_ms']:>5} {cold:>5} "
            f"{mine['content_p95_ms']:>5} {_verdict(cold):4} {warm_fcp:>5}"
            f" {_opt(mine['warm_preview_p50_ms']):>6} {warm:>5} "
            f"{_verdict(warm):4} {in_app:>6} {_verdict(in_app):4}"
            f" {_opt(mine['dashboard_cpu_p50_ms']):>8}"
            f" {_opt(mine['api_cpu_p50_ms']):>7}"
        )
        if len(labels) > 1:
            base = row[labels[1]]
            base_cold, base_warm = base["content_p50_ms"], base["warm_content_p50_ms"]
            base_in_app = base["in_app_p50_ms"] or 0
            line += (
                f" | {base_cold:>9} {base_warm:>9} {base_in_app:>11}"
                f" {base_cold / max(cold, 1):>5.2f}x {base_warm / max(warm, 1):>5.2f}x"
                f" {base_in_app / max(in_app, 1):>7.2f}x {_opt(base['dashboard_cpu_p50_ms']):>13}"
                f" {_opt(base['api_cpu_p50_ms']):>12}"
            )
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", type=Path, help="reuse or create this file")
    parser.add_argument("--api", help="use this running collector (its store has --runs runs)")
    parser.add_argument("--baseline", type=Path, help="another checkout to measure alongside")
    parser.add_argument(
        "--baseline-env",
        action="append",
        metavar="NAME=VALUE",
        help="start the baseline (this tree unless --baseline) with this variable set;"
        " e.g. AGENT_AUDIT_DASHBOARD_PREVIEW_WAIT_S=0 for the preview off (repeatable)",
    )
    parser.add_argument("--api-pid", type=int, help="with --api: the collector's pid, for its CPU")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--pages", help="only pages whose name starts with one of these (comma-separated)"
    )
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="paint-"))
    collector = None
    if args.api:
        api_url = args.api.rstrip("/")
        ids = _sample_ids(api_url, None, args.runs)
    else:
        db_path = args.db or workdir / f"paint-{args.runs}.duckdb"
        if not db_path.exists():
            # Small chunks: one 100k-run transaction of this synthetic text needs ~17 GB.
            built = build_via_sql(db_path, runs=args.runs, chunk=10_000, progress=False)
            print(f"built {built.runs:,} runs / {built.steps:,} steps in {built.seconds:.1f} s")
        ids = _sample_ids(None, db_path, args.runs)
        collector = spawn_collector(db_path)
        api_url = collector.http_url
    cases = _cases(*ids)
    if args.pages:
        wanted = tuple(name.strip() for name in args.pages.split(","))
        cases = [case for case in cases if case.name.startswith(wanted)]
    dashboards: list[Dashboard] = []
    load_before = os.getloadavg()
    try:
        dashboards.append(_start_dashboard("this", REPO, api_url, workdir / "this.log"))
        if args.baseline or args.baseline_env:
            tree = args.baseline.resolve() if args.baseline else REPO
            extra = dict(item.split("=", 1) for item in args.baseline_env or [])
            dashboards.append(
                _start_dashboard("baseline", tree, api_url, workdir / "base.log", extra)
            )
        api_pid = collector.pid if collector is not None else args.api_pid
        measure(dashboards, cases, args.repeat, api_pid)
    finally:
        for dashboard in dashboards:
            _stop(dashboard)
        if collector is not None:
            collector.stop()
    load_after = os.getloadavg()
    rows = summary(dashboards, cases)
    labels = [d.label for d in dashboards]
    if args.json:
        report = {
            "runs": args.runs,
            "repeat": args.repeat,
            "target_ms": TARGET_MS,
            "load_average": {"before": load_before, "after": load_after},
            "trees": {d.label: str(d.tree) for d in dashboards},
            "env": {d.label: d.env for d in dashboards},
            "pages": rows,
        }
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"\n{args.runs:,} runs stored; {args.repeat} cold loads per page (new browser context)"
        f"; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    if len(dashboards) > 1:
        base = dashboards[1]
        setting = " ".join(f"{k}={v}" for k, v in base.env.items())
        print(f"this: {REPO}; baseline: {base.tree}" + (f" with {setting}" if setting else ""))
    else:
        print(f"this: {REPO}")
    print(
        "ms, p50 unless named; prev = the document's preview on screen, cold/warm ="
        " Streamlit's own content drawn (and the preview gone);"
        " cold = fresh browser context, warm = new tab of a browser"
        " that has the dashboard's assets cached, in-app = the page opened from another"
        " page of an open tab (visited once before);"
        f" ok/over: against {TARGET_MS:.0f} ms; x = baseline / this\n"
    )
    _print_table(rows, labels)
    _print_firsts(rows, labels)
    _print_phases(rows, labels)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
