"""Observers that run beside a load: dashboard-like readers and the ack -> visible sampler."""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

__all__ = ["BacklogSampler", "DashboardReaders", "VisibilitySampler"]


class DashboardReaders:
    """Threads that poll like an open dashboard: list, stats and the newest run, each second."""

    def __init__(self, http_url: str, readers: int, interval_s: float = 1.0) -> None:
        self.http_url = http_url
        self.readers = readers
        self.interval_s = interval_s
        self.latencies_s: list[float] = []
        self.errors = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(readers)]

    def __enter__(self) -> DashboardReaders:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.http_url, timeout=30) as api:
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    page = api.get("/agent/runs", params={"limit": 50})
                    api.get("/agent/runs/stats")
                    runs = page.json().get("runs") or []
                    if runs:
                        api.get(f"/agent/runs/{runs[0]['id']}")
                except (httpx.HTTPError, ValueError):
                    self.errors += 1
                self.latencies_s.append(time.monotonic() - began)
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - began)))


class VisibilitySampler:
    """Times acknowledgement -> visible in GET /agent/runs/{id} for sampled runs."""

    def __init__(
        self, http_url: str, samples: Any, workers: int = 12, enabled: bool = True
    ) -> None:
        self._enabled = enabled
        self._samples = samples
        self._pool = ThreadPoolExecutor(workers)
        self._local = threading.local()
        self._http_url = http_url
        self.delays_s: list[float] = []
        self.missing = 0
        self.endpoint = "GET /agent/runs/{id}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._dispatch, daemon=True)

    def _client(self) -> httpx.Client:
        if not hasattr(self._local, "client"):
            self._local.client = httpx.Client(base_url=self._http_url, timeout=30)
        return self._local.client  # type: ignore[no-any-return]

    def _dispatch(self) -> None:
        while not self._stop.is_set() or not self._samples.empty():
            try:
                run_id, acked = self._samples.get(timeout=0.1)
            except queue.Empty:
                continue
            if self._enabled:
                self._pool.submit(self._poll, run_id, acked)

    def _poll(self, run_id: str, acked: float) -> None:
        deadline = acked + 30
        api = self._client()
        while time.monotonic() < deadline:
            response = api.get(f"/agent/runs/{run_id}")
            if response.status_code == 200:
                self.delays_s.append(time.monotonic() - acked)
                return
            if response.status_code != 404:
                self.endpoint = f"unavailable ({response.status_code})"
                return
            time.sleep(0.005)  # polling interval
        self.missing += 1

    def __enter__(self) -> VisibilitySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)
        self._pool.shutdown(wait=True)


class BacklogSampler:
    """Polls /healthz: spans acknowledged but not yet committed (``queued_spans``), commits."""

    def __init__(self, http_url: str, interval_s: float = 0.25) -> None:
        self.http_url = http_url
        self.interval_s = interval_s
        self.queued: list[int] = []
        self.commits: int | None = None
        self._first_commits: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BacklogSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(base_url=self.http_url, timeout=10) as api:
            while not self._stop.wait(self.interval_s):
                try:
                    health = api.get("/healthz").json()
                except (httpx.HTTPError, ValueError):
                    continue
                if "queued_spans" in health:
                    self.queued.append(int(health["queued_spans"]))
                if "commits" in health:
                    self._first_commits = self._first_commits or int(health["commits"])
                    self.commits = int(health["commits"]) - self._first_commits
