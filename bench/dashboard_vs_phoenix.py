"""A person's questions about a failed agent run, timed in agent-audit's dashboard and in
Arize Phoenix's UI, on the same traces, in a real headless Chromium.

    PYTHONPATH=$PWD python -m bench.dashboard_vs_phoenix --runs 1000 --repeat 3

The same OpenInference runs (bench/openinference_runs.py: the captured LangGraph run,
replayed with fresh ids; a few of them failed by a raising tool) are sent over OTLP/HTTP to
agent-audit's collector and to a local ``phoenix serve`` (bench/phoenix.py; its venv is
``--venv``). Once both have stored every run, each repetition opens a fresh browser
context per UI, alternating between the two, and walks through five tasks as a person
would, each timed from the end of the one before until the awaited text is visible:

1. list: open the UI, until the first run (trace) of the list is on screen;
2. failed run: filter the list by status with the UI's own filter, open the failed run,
   until the failing step's error message is visible;
3. LLM step: open the run's model call, until its prompt and the tool it asked for show;
4. cost: until the run's cost (a dollar figure) is visible;
5. compare: compare the run with a good one, until the differences show.

Clicks and keystrokes are counted per task. A task a UI cannot do is printed with the
reason, never timed. Waits are on visible text (or, for a canvas table, its painted row
and its accessible cell's text), with deadlines; no sleeps.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.collector_proc import REPO, percentile, spawn_collector
from bench.dashboard_paint import CHROMIUM, GRID_PAINTED, _start_dashboard, _stop
from bench.openinference_runs import RunSet, build_run_set
from bench.phoenix import PhoenixServer, PhoenixUnavailable, start_phoenix

TASKS = ("1 list", "2 failed run, its error", "3 LLM prompt + answer", "4 cost", "5 compare")
DEADLINE_MS = 120_000


class CannotDo(Exception):
    """The task could not be done in this UI; the message says why."""


@dataclass
class Clicks:
    """What a person did with mouse and keyboard during one task."""

    clicks: int = 0
    keys: int = 0
    scrolls: int = 0
    shown: str = ""  # what the UI showed, where the figure is the answer (the cost)

    def click(self, target: Any, **kwargs: Any) -> None:
        target.click(**kwargs)
        self.clicks += 1

    def type(self, page: Any, text: str) -> None:
        page.keyboard.type(text)
        self.keys += len(text)

    def press(self, page: Any, key: str) -> None:
        page.keyboard.press(key)
        self.keys += 1


Step = Callable[[Any, Clicks], None]


@dataclass
class Ui:
    """One UI: its name, its address and how a person does each task in it."""

    label: str
    url: str
    steps: dict[str, Step]
    times_ms: dict[str, list[float]] = field(default_factory=dict)
    clicks: dict[str, str] = field(default_factory=dict)
    cannot: dict[str, str] = field(default_factory=dict)


def visible(
    page: Any, text: str | re.Pattern[str], within: Any = None, *, exact: bool = False
) -> None:
    """Wait until ``text`` is visible on the page (or in ``within``), scrolled to if need be,
    inside the window (a panel sliding in counts once it is there)."""
    from playwright.sync_api import expect

    found = (within or page).get_by_text(text, exact=exact).first
    found.wait_for(state="visible", timeout=DEADLINE_MS)
    found.scroll_into_view_if_needed(timeout=DEADLINE_MS)
    expect(found).to_be_in_viewport(timeout=DEADLINE_MS)


# agent-audit's dashboard -------------------------------------------------------------


def _ours(url: str, runs: RunSet) -> Ui:
    def grid_row(page: Any, text: str) -> None:
        # The table draws its rows on a canvas; its cells' text comes as accessible cells.
        page.wait_for_function(GRID_PAINTED, polling="raf", timeout=DEADLINE_MS)
        page.locator("[role=gridcell]", has_text=text).first.wait_for(
            state="attached", timeout=DEADLINE_MS
        )

    def open_list(page: Any, done: Clicks) -> None:
        page.goto(url + "/")
        grid_row(page, runs.prompt_text)

    def open_failed(page: Any, done: Clicks) -> None:
        done.click(page.get_by_role("combobox", name="Status"))
        done.click(page.get_by_role("option", name=re.compile("failed")))
        done.press(page, "Escape")
        page.wait_for_url(re.compile(r"status=failed"), timeout=DEADLINE_MS)
        grid_row(page, "✗ failed")
        page.locator("[role=gridcell]", has_text="✓ completed").first.wait_for(
            state="detached", timeout=DEADLINE_MS
        )
        box = page.locator("[data-testid=stDataFrame]").first.bounding_box()
        # The first row's selection box: the leftmost column, under the header row.
        done.clicks += 1
        page.mouse.click(box["x"] + 15, box["y"] + 35 + 35 / 2)
        visible(page, runs.error_text)

    def open_llm(page: Any, done: Clicks) -> None:
        done.click(page.locator(".tree .row", has_text="✦").first)
        # The step's pane, beside the tree (the run's title repeats the prompt).
        pane = page.locator("[data-testid=stColumn]", has_text="Link to this step").last
        visible(page, runs.prompt_text, within=pane)
        visible(page, re.compile(f"asks for tool {runs.answer_text}"), within=pane)

    def see_cost(page: Any, done: Clicks) -> None:
        metric = page.locator("[data-testid=stMetric]", has_text="Cost").first
        visible(page, re.compile(r"\$\d"), within=metric)
        done.shown = metric.get_by_text(re.compile(r"\$\d")).first.inner_text()

    def compare(page: Any, done: Clicks) -> None:
        main = page.locator("[data-testid=stMainBlockContainer]")
        done.click(main.get_by_role("link", name="Compare"))
        visible(page, re.compile(r"What differs"))
        for status in ("✗ failed", "✓ completed"):
            visible(page, status, within=main)

    return Ui(
        "agent-audit",
        url,
        dict(zip(TASKS, (open_list, open_failed, open_llm, see_cost, compare), strict=True)),
    )


# Arize Phoenix --------------------------------------------------------------------------


def _phoenix(url: str, runs: RunSet) -> Ui:
    error_row = "tbody tr:has([aria-label=ERROR])"

    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    def open_list(page: Any, done: Clicks) -> None:
        page.goto(url)  # Phoenix opens on its projects; the traces are the project's
        done.click(page.get_by_role("link", name="default").first)
        # The row's input cell holds the start of the input's JSON only: wait on its name.
        visible(page, runs.agent_name, within=page.locator("tbody tr").first)

    def open_failed(page: Any, done: Clicks) -> None:
        # Its filter is a condition; the list starts as ``parent_id is None`` (the roots).
        done.click(page.get_by_label("Filter spans"))
        done.press(page, "End")
        done.type(page, " and status_code == 'ERROR'")
        done.press(page, "Enter")
        page.locator("tbody tr").first.locator("[aria-label=ERROR]").wait_for(timeout=DEADLINE_MS)
        done.click(page.locator(error_row).first.get_by_role("link").first)
        visible(page, runs.error_text)

    def open_llm(page: Any, done: Clicks) -> None:
        done.click(page.get_by_text("ChatOpenAI", exact=True).first)
        # Exactly the message: the root span's input shows it inside its JSON too.
        visible(page, runs.prompt_text, exact=True)
        visible(page, re.compile(rf"^{runs.answer_text}\("))

    def see_cost(page: Any, done: Clicks) -> None:
        # The trace's header, in its panel (the project's stats beside the list have one too).
        trace = page.get_by_role("dialog")
        header = trace.get_by_text("Total Cost", exact=True).first.locator("xpath=..")
        visible(page, re.compile(r"\$\d"), within=header)
        done.shown = header.get_by_text(re.compile(r"\$\d")).first.inner_text()

    def compare(page: Any, done: Clicks) -> None:
        # Compare takes two rows checked in one list, and a row's check does not survive
        # a new filter: back to the roots, scroll down to the failed one, check it, and
        # the newest (good) run at the top.
        done.press(page, "Escape")
        done.click(page.get_by_label("Clear filter condition"))
        done.click(page.get_by_label("Filter spans"))
        done.type(page, "parent_id is None")
        done.press(page, "Enter")
        page.get_by_text("parent_id is None").first.wait_for(timeout=DEADLINE_MS)
        rows = page.locator("tbody tr")
        rows.first.locator("[aria-label=OK]").wait_for(timeout=DEADLINE_MS)
        failed = page.locator(error_row).first
        deadline = time.monotonic() + DEADLINE_MS / 1000
        while not failed.count():  # the list loads more rows as it is scrolled
            if time.monotonic() > deadline:
                raise TimeoutError("no failed run came into the list")
            rows.last.scroll_into_view_if_needed(timeout=DEADLINE_MS)
            done.scrolls += 1
        failed.scroll_into_view_if_needed(timeout=DEADLINE_MS)
        done.scrolls += 1
        done.click(failed.locator("td").first)  # the check box fills it
        visible(page, "1 span selected")
        # The newest run (a good one), at the top of the list: scrolled back to.
        done.scrolls += 1
        done.click(page.locator("tbody tr:has([aria-label=OK])").first.locator("td").first)
        visible(page, "2 spans selected")
        done.click(page.get_by_test_id("compare-traces-button"))
        # Both traces' headers: the failed one's status and the good one's.
        visible(page, "Compare Traces")
        dialog = page.get_by_role("dialog")
        visible(page, "OK", within=dialog, exact=True)
        try:
            dialog.get_by_text("Error", exact=True).first.wait_for(timeout=15_000)
        except PlaywrightTimeout:
            raise CannotDo(
                "Compare Traces opened without the failed run that was checked"
            ) from None

    return Ui(
        "Phoenix",
        url,
        dict(zip(TASKS, (open_list, open_failed, open_llm, see_cost, compare), strict=True)),
    )


# Loading, timing, printing --------------------------------------------------------------


def _send(url: str, requests: list[bytes]) -> None:
    with httpx.Client(timeout=300) as client:
        for body in requests:
            answer = client.post(
                url + "/v1/traces",
                content=body,
                headers={"Content-Type": "application/x-protobuf"},
            )
            answer.raise_for_status()


def _wait(what: str, done: Callable[[], bool], deadline_s: float) -> float:
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > deadline_s:
            raise RuntimeError(f"{what} not stored within {deadline_s:.0f} s")
        time.sleep(0.5)  # polling interval
    return time.monotonic() - started


def _ours_stored(api: str, runs: RunSet) -> bool:
    def total(query: str) -> int:
        answer = httpx.get(f"{api}/agent/runs?limit=1{query}", timeout=60).json()
        return int(answer.get("total") or 0)

    return total("") >= runs.runs and total("&status=failed") >= runs.failed


def _phoenix_stored(server: PhoenixServer, runs: RunSet) -> bool:
    db = server.workdir / "phoenix.db"
    if not db.exists():
        return False
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        (traces,) = con.execute("SELECT count(*) FROM traces").fetchone()
    except sqlite3.OperationalError:
        return False  # tables not created yet
    finally:
        con.close()
    return int(traces) >= runs.runs


def _walk(browser: Any, ui: Ui) -> None:
    """One person's walk through the tasks in ``ui``, from a fresh browser context."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        for task, step in ui.steps.items():
            if task in ui.cannot:
                break  # each task starts where the one before it ended
            done = Clicks()
            began = time.perf_counter()
            try:
                step(page, done)
            except CannotDo as exc:
                ui.cannot[task] = str(exc)
                continue
            except PlaywrightTimeout as exc:
                ui.cannot[task] = "timed out: " + str(exc).splitlines()[0]
                return  # the page is in an unknown state for the tasks after it
            ui.times_ms.setdefault(task, []).append((time.perf_counter() - began) * 1000)
            ui.clicks[task] = f"{done.clicks} clicks"
            if done.keys:
                ui.clicks[task] += f" + {done.keys} keys"
            if done.scrolls:
                ui.clicks[task] += f" + {done.scrolls} scrolls"
            if done.shown:
                ui.clicks[task] += f"; shows {done.shown}"
    finally:
        context.close()


def _row(ui: Ui, task: str) -> tuple[str, float | None]:
    if task in ui.cannot:
        return f"not done: {ui.cannot[task]}", None
    times = ui.times_ms.get(task) or []
    if not times:
        return "not reached", None
    p50, p95 = percentile(times, 50), percentile(times, 95)
    return f"{p50:,.0f} / {p95:,.0f} ms, {ui.clicks[task]}", p50


def print_table(uis: list[Ui]) -> None:
    ours, theirs = uis
    print(f"| task | {ours.label} p50 / p95, clicks | {theirs.label} p50 / p95, clicks | ratio |")
    print("|---|---|---|---|")
    for task in TASKS:
        (a_text, a), (b_text, b) = _row(ours, task), _row(theirs, task)
        ratio = f"{b / a:.2f}x" if a and b else "–"
        print(f"| {task} | {a_text} | {b_text} | {ratio} |")
    print(f"\nratio = {theirs.label} p50 / {ours.label} p50 (above 1: {ours.label} faster)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs (traces) to load")
    parser.add_argument("--failed", type=int, default=5, help="how many of them failed")
    parser.add_argument("--repeat", type=int, default=3, help="walks per UI")
    parser.add_argument("--venv", default="/tmp/phoenix-venv", help="Phoenix's venv")
    parser.add_argument("--store-deadline-s", type=float, default=1800)
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    runs = build_run_set(args.runs, args.failed, now_ns=time.time_ns())
    workdir = Path(tempfile.mkdtemp(prefix="vs-phoenix-"))
    collector = spawn_collector(workdir / "runs.duckdb")
    dashboard = None
    phoenix = None
    try:
        phoenix = start_phoenix(args.venv)
        dashboard = _start_dashboard("this", REPO, collector.http_url, workdir / "dash.log")
        _send(collector.http_url, runs.requests)
        _send(phoenix.url, runs.requests)
        server = phoenix
        ours_s = _wait("agent-audit", lambda: _ours_stored(collector.http_url, runs), 600)
        theirs_s = _wait("Phoenix", lambda: _phoenix_stored(server, runs), args.store_deadline_s)
        print(
            f"{args.runs:,} runs ({args.failed} failed) sent to both; then agent-audit had"
            f" stored them all after {ours_s:.0f} s more, Phoenix after {theirs_s:.0f} s more",
            flush=True,
        )
        uis = [_ours(dashboard.url, runs), _phoenix(phoenix.url, runs)]
        load_before = os.getloadavg()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                for _ in range(args.repeat):
                    for ui in uis:
                        _walk(browser, ui)
            finally:
                browser.close()
        load_after = os.getloadavg()
    finally:
        if dashboard is not None:
            _stop(dashboard)
        collector.stop()
        if phoenix is not None:
            phoenix.stop()
            shutil.rmtree(phoenix.workdir, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"\n{args.repeat} walks per UI, each in a fresh browser context, alternating;"
        f" Phoenix {phoenix.version}; Chromium {CHROMIUM}; {os.cpu_count()} cores,"
        f" load average {load_before[0]:.1f} before, {load_after[0]:.1f} after;"
        f" {platform.python_version()}\n"
    )
    print_table(uis)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PhoenixUnavailable as exc:
        sys.exit(f"Phoenix: {exc}")
