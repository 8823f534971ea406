"""What reading one very long run costs: its page, and all its steps a page at a time.

Sends one run of ``--steps`` steps in one OTLP request to a collector started as
a subprocess, then times ``GET /agent/runs/{id}`` (answer size, seconds, the
collector's peak RSS above its RSS before the request) and reading every step
through ``GET /agent/runs/{id}/steps`` a page at a time. With ``--repo`` the
collector runs from another checkout (e.g. an older commit, whose run page held
every step and whose ``/steps`` answered them all at once).

Usage::

    PYTHONPATH=$PWD python -m bench.long_run_page --steps 20000
    PYTHONPATH=$PWD python -m bench.long_run_page --steps 20000 --repo /tmp/old-tree
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.collector_proc import (
    REPO,
    proc_status_kb,
    reset_peak_rss,
    spawn_collector,
    wait_applied,
)
from bench.workload import WorkloadSpec, generate_requests

_REPEATS = 3


def _timed_get(client: httpx.Client, path: str, **params: object) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.get(path, params=params)
    response.raise_for_status()
    return time.perf_counter() - started, response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout to run the collector")
    args = parser.parse_args()
    spec = WorkloadSpec(runs=1, steps=args.steps, runs_per_request=1, result_bytes=(200, 600))
    (request,) = generate_requests(spec)
    (run_id,) = request.plan.run_ids
    with tempfile.TemporaryDirectory() as tmp:
        collector = spawn_collector(Path(tmp) / "audit.duckdb", repo=args.repo)
        try:
            with httpx.Client(base_url=collector.http_url, timeout=600) as client:
                sent = client.post(
                    "/v1/traces",
                    content=request.body,
                    headers={"content-type": "application/x-protobuf"},
                )
                sent.raise_for_status()
                wait_applied(collector)
                _measure(client, collector.pid, run_id, args.steps)
        finally:
            collector.stop()


def _measure(client: httpx.Client, pid: int, run_id: str, steps: int) -> None:
    seconds, peaks, size = [], [], 0
    page: dict[str, object] = {}
    for _ in range(_REPEATS):
        before = proc_status_kb(pid, "VmRSS")
        reset_peak_rss(pid)
        took, response = _timed_get(client, f"/agent/runs/{run_id}")
        peaks.append((proc_status_kb(pid, "VmHWM") - before) / 1024)
        seconds.append(took)
        size, page = len(response.content), response.json()
    shown = len(page.get("steps") or [])  # type: ignore[arg-type]
    print(f"run of {steps:,} steps, one request")
    print(
        f"  run page: {size / 1e6:.2f} MB, {shown:,} steps, "
        f"truncated={page.get('steps_truncated')}, "
        f"median {statistics.median(seconds):.3f} s, peak RSS +{max(peaks):.0f} MB "
        f"({_REPEATS} reads)"
    )
    started = time.perf_counter()
    numbers: list[int] = []
    after, requests, total_bytes = 0, 0, 0
    while True:
        _, response = _timed_get(client, f"/agent/runs/{run_id}/steps", after_step=after)
        body = response.json()
        requests += 1
        total_bytes += len(response.content)
        numbers += [int(s["step_number"]) for s in body["steps"]]
        following = body.get("next_after_step")
        if following is None:
            break
        after = int(following)
    took = time.perf_counter() - started
    exact = numbers == list(range(1, steps + 1))
    print(
        f"  every step through /steps: {requests} requests, {total_bytes / 1e6:.2f} MB, "
        f"{took:.2f} s, each step once in order: {exact}"
    )
    took, response = _timed_get(client, f"/agent/runs/{run_id}/steps", after_step=steps - 5)
    print(f"  a live poll (/steps after the last but 5): {took * 1000:.1f} ms")
    answer = client.post(
        "/sql", json={"sql": f"SELECT cost_usd FROM run_costs WHERE run_id = '{run_id}'"}
    )
    if answer.status_code == 200:
        in_sql = answer.json()["rows"][0][0]
        print(f"  cost_usd on the page {page.get('cost_usd')}, in run_costs {in_sql}")


if __name__ == "__main__":
    main()
