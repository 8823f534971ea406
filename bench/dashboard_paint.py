"""How fast each dashboard page paints in a real browser with 100k runs stored.

Builds (or reuses) a DuckDB file of ``--runs`` agent runs with bench.dataset's
SQL path, starts the real collector on it and ``agent-audit dashboard`` against
it, then opens every page in headless Chromium (Playwright, /usr/bin/chromium)
``--repeat`` times, each in a fresh browser context (a new Streamlit session, as
a person opening a link). For each page it prints:

- ``fcp``: the browser's first contentful paint (Streamlit's page frame);
- ``content``: navigation start until the page's own content is on screen (the
  first grid cell of the runs table, the first row of the span tree, a chart...).

Usage::

    PYTHONPATH=$PWD python -m bench.dashboard_paint --runs 100000 --repeat 5
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx

from bench.collector_proc import REPO, percentile, spawn_collector
from bench.dataset import build_via_sql, long_run_indexes, sql_run_id

TARGET_MS = 500.0
CHROMIUM = "/usr/bin/chromium"


@dataclass(frozen=True)
class PageCase:
    """One page to open and the selector that means its content is on screen."""

    name: str
    path: str
    ready: str  # a CSS selector (Playwright pierces the tree component's shadow root)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_dashboard(api_url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "dashboard", "--api", api_url,
             "--port", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dashboard exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)  # polling interval while the server starts
    process.kill()
    raise RuntimeError("the dashboard did not start in 90 s")


def _cases(db_path: Path, runs: int) -> list[PageCase]:
    long_id = sql_run_id(long_run_indexes(runs)[0])
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        row = con.execute(
            "SELECT id FROM agent_runs WHERE status = 'failed' ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        other = con.execute(
            "SELECT id FROM agent_runs WHERE status = 'completed' ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    failed = str(row[0]) if row else long_id
    good = str(other[0]) if other else long_id
    return [
        PageCase("runs (list)", "/", "[role=gridcell]"),
        PageCase("runs, ?status=failed", "/?status=failed", "[role=gridcell]"),
        PageCase("run (9 steps), a step open", f"/run?run={failed}&step=2", ".tree .row"),
        PageCase("run (100 steps)", f"/run?run={long_id}", ".tree .row"),
        PageCase("compare", f"/compare?a={good}&b={failed}", "[role=gridcell]"),
        PageCase("live", "/live", "[data-testid=stMetric], [data-testid=stAlert]"),
        PageCase("stats", "/stats", ".vega-embed canvas, .vega-embed svg"),
        PageCase("sql", "/sql", "textarea"),
    ]


def measure(url: str, cases: list[PageCase], repeat: int) -> list[dict[str, Any]]:
    """Open each page ``repeat`` times in fresh contexts; return timings per page."""
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            warm = browser.new_page()
            warm.goto(url)  # the first page load of the server compiles and caches
            warm.locator("[role=gridcell]").first.wait_for(state="attached", timeout=60_000)
            warm.close()
            for case in cases:
                contents, paints = [], []
                for _ in range(repeat):
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = context.new_page()
                    began = time.perf_counter()
                    page.goto(url + case.path)
                    # The grid draws on a canvas; its cells exist only for accessibility.
                    state = "attached" if "gridcell" in case.ready else "visible"
                    page.locator(case.ready).first.wait_for(state=state, timeout=60_000)
                    contents.append((time.perf_counter() - began) * 1000)
                    fcp = page.evaluate(
                        "(performance.getEntriesByName('first-contentful-paint')[0] || {})"
                        ".startTime || null"
                    )
                    if fcp is not None:
                        paints.append(float(fcp))
                    context.close()
                results.append(
                    {
                        "page": case.name,
                        "fcp_p50_ms": round(percentile(paints, 50), 0) if paints else None,
                        "content_p50_ms": round(percentile(contents, 50), 0),
                        "content_p95_ms": round(percentile(contents, 95), 0),
                        "content_min_ms": round(min(contents), 0),
                        "vs_target": round(percentile(contents, 50) / TARGET_MS, 2),
                    }
                )
        finally:
            browser.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", type=Path, help="reuse or create this file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="paint-"))
    db_path = args.db or workdir / f"paint-{args.runs}.duckdb"
    if not db_path.exists():
        # Small chunks: one 100k-run transaction of this synthetic text needs ~17 GB.
        built = build_via_sql(db_path, runs=args.runs, chunk=10_000, progress=False)
        print(f"built {built.runs:,} runs / {built.steps:,} steps in {built.seconds:.1f} s")
    cases = _cases(db_path, args.runs)
    collector = spawn_collector(db_path)
    dashboard = None
    try:
        dashboard, url = _start_dashboard(collector.http_url, workdir / "dashboard.log")
        results = measure(url, cases, args.repeat)
    finally:
        if dashboard is not None:
            dashboard.send_signal(signal.SIGTERM)
            dashboard.wait(30)
        collector.stop()
    if args.json:
        print(json.dumps({"runs": args.runs, "repeat": args.repeat, "pages": results}, indent=2))
        return 0
    print(f"\n{args.runs:,} runs stored; {args.repeat} cold loads per page (new browser context)")
    print(f"{'page':32} {'fcp p50':>8} {'content p50':>12} {'p95':>7} {'min':>7} {'p50/500ms':>10}")
    for row in results:
        fcp = f"{row['fcp_p50_ms']:.0f}" if row["fcp_p50_ms"] is not None else "–"
        print(
            f"{row['page']:32} {fcp:>8} {row['content_p50_ms']:>12.0f} "
            f"{row['content_p95_ms']:>7.0f} {row['content_min_ms']:>7.0f} {row['vs_target']:>10.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
