"""The dashboard served by ``agent-audit dashboard`` and driven by a real headless Chromium.

``serve_dashboard`` records the sample runs into a real collector, starts the
dashboard as a subprocess and yields a Playwright page; tests/dashboard/conftest.py
makes it one fixture (``served``) for every browser test.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from instrumentation import shutdown
from tests.conftest import CollectorHandle, start_test_collector
from tests.dashboard.conftest import Seeded, seed, traced_into
from tests.support import free_port, require_or_skip, wait_until

__all__ = [
    "ARTIFACTS",
    "ROW_HEIGHT_PX",
    "in_closed_shadow",
    "Served",
    "screenshot",
    "serve_dashboard",
    "start_dashboard",
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / ".ci" / "artifacts" / "screenshots"
REPO_ROOT = Path(__file__).resolve().parents[2]
ROW_HEIGHT_PX = 35  # st.dataframe's default row (and header) height
WAIT_MS = 20_000


@dataclass
class Served:
    seeded: Seeded
    url: str
    page: object  # playwright Page
    collector: CollectorHandle  # replaced when a test restarts the collector


def start_dashboard(
    api_url: str,
    log_path: Path,
    *,
    preview: bool = False,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """The dashboard as ``agent-audit dashboard`` runs it, with its default settings
    (page previews on: dashboard/page_preview.py) but a 1 s live refresh.

    ``preview``: the page document waits for its preview's data however busy the
    machine is (10 s), so tests/dashboard/test_browser_preview.py can count on it.
    """
    port = free_port()
    env = dict(os.environ, AGENT_AUDIT_DASHBOARD_REFRESH_S="1")
    env.pop("AGENT_AUDIT_DASHBOARD_PREVIEW_WAIT_S", None)
    if preview:
        env["AGENT_AUDIT_DASHBOARD_PREVIEW_WAIT_S"] = "10"
    env.update(extra_env or {})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "collector.cli",
                "dashboard",
                "--api",
                api_url,
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"dashboard exited: {log_path.read_text()}")
        try:
            return httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(healthy, timeout_s=60, interval_s=0.2, what="the dashboard's health endpoint")
    return process, url


def serve_dashboard(
    tmp_path_factory: pytest.TempPathFactory, *, preview: bool = False
) -> Iterator[Served]:
    has_playwright = importlib.util.find_spec("playwright") is not None
    require_or_skip(has_playwright and CHROMIUM.exists(), "needs Debian's chromium and playwright")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)

    workdir = tmp_path_factory.mktemp("browser")
    collector: CollectorHandle = start_test_collector(workdir / "audit.duckdb")
    traced_into(collector)
    process: subprocess.Popen[bytes] | None = None
    data: Seeded | None = None
    try:
        data = seed(collector)
        process, url = start_dashboard(
            collector.api_url, workdir / "dashboard.log", preview=preview
        )
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.set_default_timeout(WAIT_MS)
            console: list[str] = []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            page.on("framenavigated", lambda f: console.append(f"navigated: {f.url}"))
            try:
                served = Served(seeded=data, url=url, page=page, collector=collector)
                yield served
                collector = served.collector
            finally:
                # What the browser saw last, for a person reading a failure.
                screenshot(page, "dashboard-last-page.png")
                (ARTIFACTS / "dashboard-browser-console.log").write_text("\n".join(console))
                browser.close()
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0  # agent-audit dashboard stops cleanly
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            log = (workdir / "dashboard.log").read_text(errors="replace")
            (ARTIFACTS / "dashboard-server.log").write_text(log)
        if data is not None:
            data.live.finish()
        shutdown(5.0)
        collector.stop()


def screenshot(page: object, name: str) -> None:
    """Save what the browser shows under .ci/artifacts/screenshots/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))  # type: ignore[attr-defined]


def in_closed_shadow(page: object, host_id: str, function: str) -> object:
    """Call ``function`` (JavaScript, ``this`` = the shadow root) in the closed shadow
    root of the element ``#host_id``; None when there is no such element or root.

    No script of the page can reach a closed shadow root; the DevTools protocol can
    (DOM.describeNode with ``pierce``), which is how a test looks inside it.
    """
    cdp = page.context.new_cdp_session(page)  # type: ignore[attr-defined]
    try:
        document = cdp.send("DOM.getDocument", {"depth": 0})
        found = cdp.send(
            "DOM.querySelector", {"nodeId": document["root"]["nodeId"], "selector": f"#{host_id}"}
        )
        if not found.get("nodeId"):
            return None
        host = cdp.send("DOM.describeNode", {"nodeId": found["nodeId"], "pierce": True})
        roots = host["node"].get("shadowRoots") or []
        if not roots:
            return None
        root = cdp.send("DOM.resolveNode", {"backendNodeId": roots[0]["backendNodeId"]})
        answer = cdp.send(
            "Runtime.callFunctionOn",
            {
                "objectId": root["object"]["objectId"],
                "functionDeclaration": function,
                "returnByValue": True,
            },
        )
        if "exceptionDetails" in answer:
            raise AssertionError(f"in the shadow root: {answer['exceptionDetails']}")
        return answer["result"].get("value")
    finally:
        cdp.detach()
