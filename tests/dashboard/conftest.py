"""Fixtures: a real collector holding runs sent through the real instrumentation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from instrumentation import configure, shutdown
from tests.conftest import CollectorHandle, start_test_collector
from tests.dashboard.agents import LiveAgent, SampleRuns, send_sample_runs

if TYPE_CHECKING:
    from tests.dashboard.browser_support import Served
from tests.support import wait_until

APP_PATH = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
APP_TIMEOUT_S = 30.0


@dataclass
class Seeded:
    """A collector with finished sample runs and one agent still running."""

    collector: CollectorHandle
    runs: SampleRuns
    live: LiveAgent

    @property
    def api_url(self) -> str:
        return self.collector.api_url

    @property
    def live_id(self) -> str:
        assert self.live.run_id is not None
        return self.live.run_id


def api_runs(api_url: str, **params: str) -> list[dict[str, object]]:
    """Runs straight from the REST API (to wait on what the collector has stored)."""
    response = httpx.get(f"{api_url}/agent/runs", params={"limit": "1000", **params}, timeout=5)
    response.raise_for_status()
    return list(response.json()["runs"])


def step_count(api_url: str, run_id: str) -> int:
    """Steps the collector has stored for a run."""
    response = httpx.get(f"{api_url}/agent/runs/{run_id}/steps", timeout=5)
    response.raise_for_status()
    return len(response.json()["steps"])


def traced_into(collector: CollectorHandle) -> None:
    """Send this process's agent runs to ``collector`` (fast export, fast cancel polling).

    A configuration left by an earlier fixture (the browser tests' collector lives
    for the whole session) is shut down first: configure() ignores a second call.
    """
    shutdown(5.0)
    configure(
        endpoint=collector.grpc_endpoint,
        protocol="grpc",
        api_url=collector.api_url,
        cancel_poll_s=0.2,
        schedule_delay_ms=50,
        service_name="dashboard-tests",
    )


def seed(collector: CollectorHandle) -> Seeded:
    """Record the sample runs and start a live agent; wait until the API shows them all."""
    runs = send_sample_runs()
    live = LiveAgent().start()

    def stored() -> bool:
        by_id = {r["id"]: r for r in api_runs(collector.api_url)}
        finished = all(
            by_id.get(run_id, {}).get("status") not in (None, "running") for run_id in runs.all()
        )
        return finished and by_id.get(live.run_id, {}).get("status") == "running"

    wait_until(stored, timeout_s=20, what="sample runs stored and the live run visible")
    return Seeded(collector=collector, runs=runs, live=live)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    collector = start_test_collector(tmp_path_factory.mktemp("dashboard") / "audit.duckdb")
    traced_into(collector)
    try:
        data = seed(collector)
        yield data
        data.live.finish()
    finally:
        shutdown(5.0)
        collector.stop()


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The dashboard over the sample runs, with a headless Chromium page (browser tests)."""
    from tests.dashboard.browser_support import serve_dashboard

    yield from serve_dashboard(tmp_path_factory)


class AppFactory(Protocol):
    """``app(api_url, token=None)``: an AppTest of the dashboard reading that API."""

    def __call__(self, api_url: str, *, token: str | None = None) -> AppTest: ...


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> AppFactory:
    """Build an AppTest of the dashboard pointed at a given API URL (and token)."""

    def build(api_url: str, *, token: str | None = None) -> AppTest:
        monkeypatch.setenv("AGENT_AUDIT_API", api_url)
        if token is None:
            monkeypatch.delenv("AGENT_AUDIT_TOKEN", raising=False)
        else:
            monkeypatch.setenv("AGENT_AUDIT_TOKEN", token)
        return AppTest.from_file(str(APP_PATH), default_timeout=APP_TIMEOUT_S)

    return build
