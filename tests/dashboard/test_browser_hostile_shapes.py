"""Stored values of hostile shape, in a real browser: JSON nested past Python's limits,
run ids of any characters, runs longer than a page, values too long for a URL,
tracebacks of thousands of lines, and an API URL carrying a password.

Runs are made with the real OpenTelemetry SDK and sent to the real collector over
gRPC; each page is opened in headless Chromium. Every page must draw without a
Python traceback, and the browser must ask nothing of any origin but the
dashboard's own (every request Chromium makes is recorded).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.trace import Status, StatusCode, Tracer

from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import start_test_collector
from tests.dashboard.browser_support import Served, start_dashboard
from tests.dashboard.test_browser import _click_row
from tests.support import free_port, wait_until

pytestmark = pytest.mark.browser

DEEP = 5_000  # past json.loads' recursion limit anywhere
NEAR_LIMIT = 950  # parses at the top of a stack, not inside a page's script


def _tool(name: str, *, args: str | None = None, result: str | None = None) -> dict[str, Any]:
    attributes: dict[str, Any] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
    if args is not None:
        attributes["gen_ai.tool.call.arguments"] = args
    if result is not None:
        attributes["gen_ai.tool.call.result"] = result
    return {"name": f"execute_tool {name}", "attributes": attributes}


def _chat(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": "chat probe-model",
        "attributes": {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "probe-model",
            "gen_ai.input.messages": json.dumps(messages),
        },
    }


def _send_run(
    served: Served,
    run_id: str,
    steps: list[dict[str, Any]],
    *,
    task: str = "probe task",
    agent: str = "probe-agent",
    metadata: str | None = None,
) -> dict[str, Any]:
    """One run of ``steps`` (each a span's name, attributes and an optional ``error``
    with its traceback), through the SDK's gRPC exporter; its record once stored."""

    def build(tracer: Tracer) -> None:
        attributes = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": agent,
            "agent_run.id": run_id,
            "agent_run.task": task,
            "agent_run.final_answer": "done",
        }
        if metadata is not None:
            attributes["agent_run.metadata"] = metadata
        with tracer.start_as_current_span("invoke_agent probe", attributes=attributes):
            for step in steps:
                with tracer.start_as_current_span(step["name"]) as span:
                    span.set_attributes(step["attributes"])
                    if "error" in step:
                        span.add_event(
                            "exception",
                            {
                                "exception.type": "RuntimeError",
                                "exception.message": step["error"],
                                "exception.stacktrace": step["traceback"],
                            },
                        )
                        span.set_status(Status(StatusCode.ERROR, step["error"]))

    export("grpc", served.collector, record_spans(build))
    quoted = urllib.parse.quote(run_id, safe="")

    def stored() -> dict[str, Any]:
        answer = httpx.get(f"{served.seeded.api_url}/agent/runs/{quoted}", timeout=10)
        if answer.status_code != 200:
            return {}
        record: dict[str, Any] = answer.json()
        return record if int(record.get("step_count") or 0) == len(steps) else {}

    return wait_until(stored, timeout_s=30, interval_s=0.2, what=f"run {run_id[:40]} stored")


@pytest.fixture
def requests_seen(served: Served) -> Iterator[list[str]]:
    """Every URL Chromium asks for while the test runs."""
    page: Any = served.page
    seen: list[str] = []

    def record(request: Any) -> None:
        seen.append(request.url)

    page.on("request", record)
    yield seen
    page.remove_listener("request", record)


def _open(served: Served, path: str, shown: str) -> Any:
    """Open ``path``, wait for ``shown`` and for the script run to end; the main area."""
    page: Any = served.page
    page.goto(f"{served.url}{path}")
    traceback = page.locator("[data-testid=stException]")
    traceback.or_(page.get_by_text(shown)).first.wait_for(state="attached")
    _drawn_without_traceback(page.locator("[data-testid=stMain]"), path)
    page.get_by_text(shown).first.wait_for(state="attached")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=stApp]')"
        "?.getAttribute('data-test-script-state') === 'notRunning'"
    )
    return page.locator("[data-testid=stMain]")


def _drawn_without_traceback(main: Any, where: str) -> None:
    exceptions = main.locator("[data-testid=stException]")
    assert exceptions.count() == 0, f"{where}: {exceptions.first.inner_text()[:600]}"


def _only_own_origin(seen: list[str], served: Served) -> None:
    foreign = [u for u in seen if not u.startswith((served.url, "data:", "blob:"))]
    assert foreign == [], foreign
    assert seen, "no request recorded"


def test_json_nested_past_pythons_limit_is_shown_as_text(
    served: Served, requests_seen: list[str]
) -> None:
    deep_list = "[" * DEEP + "]" * DEEP
    deep_object = '{"a":' * NEAR_LIMIT + "1" + "}" * NEAR_LIMIT
    first = _send_run(
        served,
        "nested-json-a",
        [
            _tool("deep_args", args=deep_list, result=deep_object),
            _chat(
                [
                    {"role": "user", "parts": [{"type": "text", "content": deep_list}]},
                    {
                        "role": "assistant",
                        "parts": [
                            {"type": "tool_call", "id": "c1", "name": "probe", "arguments": "x"}
                        ],
                    },
                ]
            ),
        ],
        metadata=deep_object,
    )
    second = _send_run(served, "nested-json-b", [_tool("deep_args", args="{}", result=deep_list)])
    for path, shown in (
        (f"/run?run={first['id']}", "Steps (2)"),
        (f"/run?run={first['id']}&step=1", "Step 1 · Tool call · deep_args"),
        (f"/run?run={first['id']}&step=2", "Step 2 · LLM call"),
        (f"/run?run={second['id']}&step=1", "Step 1 · Tool call · deep_args"),
        (f"/compare?a={first['id']}&b={second['id']}", "Steps, aligned"),
    ):
        main = _open(served, path, shown)
        _drawn_without_traceback(main, path)
        if "step=1" in path:
            # The text is shown as it is, not indented (code boxes draw a moment later).
            main.locator("[data-testid=stCode]", has_text="[[[[[[[[").first.wait_for()
    _only_own_origin(requests_seen, served)


def test_a_run_id_of_any_characters_opens_and_its_step_link_is_that_step(
    served: Served, requests_seen: list[str]
) -> None:
    page: Any = served.page
    # "__" is the delimiter of Streamlit's component ids; "&", "#" and "?" end a URL's value.
    # ":" and "@" are escaped in Markdown; the id is shown to be copied as it is.
    run_id = "ops__nightly:42@www.host&step=9#frag?x=<b>"
    _send_run(served, run_id, [_tool("first_tool", result="one"), _tool("second_tool")])
    quoted = urllib.parse.quote(run_id, safe="")
    main = _open(served, f"/run?run={quoted}", "Steps (2)")
    _drawn_without_traceback(main, "run page")
    page.locator(".tree .row", has_text="second_tool").first.click()
    page.get_by_text("Step 2 · Tool call · second_tool").first.wait_for()
    link = main.locator("[data-testid=stColumn]", has_text="Link to this step").last
    shown = link.locator("[data-testid=stCode]").first.inner_text().strip()
    assert shown.endswith(f"/run?run={quoted}&step=2"), shown
    # Opened, the link shows that step of that run.
    page.goto(shown)
    page.get_by_text("Step 2 · Tool call · second_tool").first.wait_for()
    shown_id = main.locator("[data-testid=stCode]", has_text="ops__nightly").first
    assert shown_id.inner_text().strip() == run_id
    _drawn_without_traceback(main, "the step's link")
    _only_own_origin(requests_seen, served)


def test_a_row_of_a_run_whose_id_holds_invisible_characters_opens_that_run(
    served: Served, requests_seen: list[str]
) -> None:
    page: Any = served.page
    # Shown in the table by their codes (\u200b, \u202e): the row still opens the run itself.
    run_id = "invisible\u200bid\u202eevil"
    _send_run(served, run_id, [_tool("unicode_id_tool")], task="row with an invisible id")
    page.goto(served.url)
    _click_row(page, "row with an invisible id")
    page.wait_for_url(re.compile(r"/run\?run="))
    main = page.locator("[data-testid=stMain]")
    traceback = main.locator("[data-testid=stException]")
    missing = main.get_by_text("No run with id")
    traceback.or_(missing).or_(main.get_by_text("Steps (1)")).first.wait_for()
    assert missing.count() == 0, missing.first.inner_text()
    _drawn_without_traceback(main, "the run opened from its row")
    _only_own_origin(requests_seen, served)


def test_a_step_past_the_first_thousand_opens_by_its_link(
    served: Served, requests_seen: list[str]
) -> None:
    steps = [_tool(f"tool_{n:04d}", result=f"result {n}") for n in range(1, 1006)]
    record = _send_run(served, "long-run-1005", steps)
    assert record.get("steps_truncated"), "the run record holds only its first steps"
    main = _open(served, "/run?run=long-run-1005&step=1003", "Steps (")
    main.get_by_text("Step 1003 · Tool call · tool_1003").first.wait_for()
    assert "result 1003" in main.inner_text()
    assert "has no step" not in main.inner_text()
    _drawn_without_traceback(main, "step 1003")
    _only_own_origin(requests_seen, served)


def test_an_agent_name_too_long_for_a_url_leaves_the_run_page_whole(
    served: Served, requests_seen: list[str]
) -> None:
    # 30,000 characters, each quoted into three in a URL: past what the REST client sends.
    record = _send_run(served, "long-agent-name", [_tool("only_tool")], agent="<" * 30_000)
    assert len(record["agent_name"]) == 30_000
    page: Any = served.page
    main = _open(served, "/run?run=long-agent-name", "Steps (1)")
    _drawn_without_traceback(main, "run page")
    # Everything below the comparison picker is drawn: the tree, the log.
    page.locator(".tree .row", has_text="only_tool").first.wait_for()
    assert "Every step in order" in main.inner_text()
    _only_own_origin(requests_seen, served)


def test_a_traceback_of_thousands_of_lines_shows_its_start_and_downloads_whole(
    served: Served, requests_seen: list[str]
) -> None:
    page: Any = served.page
    frames = "".join(
        f'  File "/srv/mod{n}.py", line {n}, in f{n}\n    f{n + 1}()\n' for n in range(1200)
    )
    traceback = f"Traceback (most recent call last):\n{frames}RuntimeError: at the bottom"
    step = _tool("crashing_tool") | {"error": "boom " * 8_000, "traceback": traceback}
    _send_run(served, "long-traceback", [step])
    main = _open(served, "/run?run=long-traceback&step=1", "Step 1 · Tool call · crashing_tool")
    _drawn_without_traceback(main, "step page")
    expander = main.locator("[data-testid=stExpander]", has_text="Traceback").first
    box = expander.locator("[data-testid=stCode]").first
    text = box.inner_text()
    assert text.startswith("Traceback (most recent call last)")
    assert "RuntimeError: at the bottom" not in text  # past the lines a box shows
    assert len(text) <= 21_000
    caption = expander.get_by_text(re.compile(r"The first [\d,]+ of [\d,]+ characters")).first
    counted = re.search(r"of ([\d,]+) characters", caption.inner_text())
    assert counted is not None
    total = int(counted[1].replace(",", ""))
    assert total > len(text)
    with page.expect_download() as download:
        expander.get_by_role("button", name=re.compile("Download traceback")).click()
    whole = Path(download.value.path()).read_text("utf-8")
    assert len(whole) == total and whole.startswith("Traceback (most recent call last)")
    # The step's error, 40,000 characters, is cut too: in the detail and in the log.
    cut = main.get_by_text(re.compile(r"The first 20,000 of 4\d,\d{3} characters"))
    assert cut.count() >= 2, main.inner_text()[:3000]
    _only_own_origin(requests_seen, served)


def test_a_password_in_the_api_url_is_never_shown(
    served: Served, tmp_path: Path, requests_seen: list[str]
) -> None:
    page: Any = served.page
    empty = start_test_collector(tmp_path / "empty.duckdb")
    dashboards = []
    try:
        # A collector with no runs yet (the page shows how to send one), and none at all.
        for port in (empty.http_port, free_port()):
            api_url = f"http://probe-user:probe-secret@127.0.0.1:{port}"
            process, url = start_dashboard(api_url, tmp_path / f"dashboard-{port}.log")
            dashboards.append(process)
            page.goto(url)
            shown = "No agent runs recorded yet" if port == empty.http_port else "unreachable"
            page.get_by_text(shown).first.wait_for()
            main = page.locator("[data-testid=stMain]")
            main.get_by_text(f"127.0.0.1:{port}").first.wait_for()
            assert "probe-secret" not in page.content()
            assert "probe-user" not in page.content()
            assert [u for u in requests_seen if not u.startswith((url, "data:", "blob:"))] == []
            requests_seen.clear()
    finally:
        for process in dashboards:
            process.terminate()
            process.wait(timeout=20)
        empty.stop()
