"""Side by side: the same load against agent-audit and a local Arize Phoenix.

    python -m bench.phoenix --runs 2000 --protocol http            # both, then the ratios
    python -m bench.phoenix --runs 2000 --only phoenix

Phoenix runs from its own venv (``python -m venv /tmp/phoenix-venv &&
/tmp/phoenix-venv/bin/pip install arize-phoenix``), started as ``phoenix serve``
on free loopback ports with a temporary working directory (SQLite). The load
is bench.load's, sent to Phoenix's OTLP endpoint; a span counts as visible
when it is a row of Phoenix's ``spans`` table (read straight from the SQLite
file, read-only; Phoenix's UI and API read the same table). RSS is the
``phoenix serve`` process's VmRSS / VmHWM; DB bytes are phoenix.db plus its
-wal after Phoenix stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.collector_proc import proc_status_kb
from bench.load import Target, add_load_arguments, add_spawn_arguments, run_load, run_spawned

__all__ = ["PhoenixServer", "PhoenixUnavailable", "main", "run_phoenix", "start_phoenix"]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sqlite_counter(db: Path) -> Any:
    def count() -> tuple[int, int, int, str]:
        if not db.exists():
            return 0, -1, -1, "phoenix spans table (SQLite)"
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            (spans,) = con.execute("SELECT count(*) FROM spans").fetchone()
            (traces,) = con.execute("SELECT count(*) FROM traces").fetchone()
        except sqlite3.OperationalError:
            spans = traces = 0  # tables not created yet
        finally:
            con.close()
        # One trace per run in this load.
        return int(spans), int(traces), -1, "phoenix spans/traces tables (SQLite, read-only)"

    return count


@dataclass
class PhoenixServer:
    """One ``phoenix serve`` process on loopback ports, with its own working directory."""

    process: subprocess.Popen[bytes]
    workdir: Path
    url: str
    grpc_port: int
    version: str
    ready_s: float

    def stop(self) -> None:
        """SIGINT (Phoenix's own shutdown), then kill after 60 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class PhoenixUnavailable(RuntimeError):
    """Phoenix is not installed, exited, or did not answer in time; the message says which."""


def start_phoenix(venv: str) -> PhoenixServer:
    """Start ``phoenix serve`` from ``venv`` and wait until ``/healthz`` answers."""
    executable = Path(venv) / "bin" / "phoenix"
    if not executable.exists():
        raise PhoenixUnavailable(
            f"{executable} not found: create the venv and pip install arize-phoenix"
        )
    workdir = Path(tempfile.mkdtemp(prefix="bench-phoenix-"))
    http_port, grpc_port = _free_port(), _free_port()
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env |= {
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(http_port),
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    version = _version(venv)
    started = time.monotonic()
    with (workdir / "phoenix.log").open("wb") as log:
        process = subprocess.Popen(
            [str(executable), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir
        )
    url = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            tail = (workdir / "phoenix.log").read_text()[-2000:]
            raise PhoenixUnavailable(f"phoenix exited with {process.returncode}: {tail}")
        try:
            if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise PhoenixUnavailable("phoenix did not answer /healthz within 180 s")
        time.sleep(0.2)  # polling interval
    return PhoenixServer(
        process, workdir, url, grpc_port, version, round(time.monotonic() - started, 1)
    )


def run_phoenix(args: argparse.Namespace) -> dict[str, Any]:
    """Start Phoenix, run the load at it, stop it; every figure or why it could not run."""
    try:
        server = start_phoenix(args.venv)
    except PhoenixUnavailable as exc:
        return {"error": str(exc)}
    report: dict[str, Any] = {"phoenix_version": server.version, "ready_s": server.ready_s}
    try:
        time.sleep(args.idle_wait)  # let start-up settle before reading idle RSS
        report["idle_rss_mb"] = round(proc_status_kb(server.process.pid, "VmRSS") / 1024, 1)
        target = Target(
            grpc_target=f"127.0.0.1:{server.grpc_port}",
            http_url=server.url,
            counter=_sqlite_counter(server.workdir / "phoenix.db"),
            pid=server.process.pid,
            sample_visibility=False,
            visible_deadline_s=args.phoenix_deadline,
        )
        report |= run_load(args, target)
    finally:
        server.stop()
    size = sum(p.stat().st_size for p in server.workdir.glob("phoenix.db*"))
    report["db_bytes"] = size
    if report.get("acked_spans"):
        report["db_bytes_per_span"] = round(size / report["acked_spans"], 1)
    shutil.rmtree(server.workdir, ignore_errors=True)
    return report


def _version(venv: str) -> str:
    out = subprocess.run(
        [str(Path(venv) / "bin" / "python"), "-c", "import phoenix; print(phoenix.__version__)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return out.stdout.strip() or out.stderr.strip()[-200:]


_COMPARE = (
    ("e2e_spans_per_s", "higher"),
    ("acked_spans_per_s", "higher"),
    ("request_latency_ms_p50", "lower"),
    ("request_latency_ms_p99", "lower"),
    ("last_ack_to_all_visible_s", "lower"),
    ("idle_rss_mb", "lower"),
    ("peak_rss_mb_vmhwm", "lower"),
    ("db_bytes_per_span", "lower"),
    ("collector_cpu_us_per_span", "lower"),
)


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> list[dict[str, Any]]:
    """Each figure for both and how many times better agent-audit is (>1 = better)."""
    rows = []
    for key, better in _COMPARE:
        a, b = ours.get(key), theirs.get(key)
        ratio = None
        if isinstance(a, int | float) and isinstance(b, int | float) and a and b:
            ratio = round(a / b if better == "higher" else b / a, 2)
        rows.append({"figure": key, "agent_audit": a, "phoenix": b, "times_better": ratio})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_load_arguments(parser)
    add_spawn_arguments(parser)
    parser.add_argument("--venv", default="/tmp/phoenix-venv")
    parser.add_argument("--only", choices=("both", "phoenix", "agent-audit"), default="both")
    parser.add_argument(
        "--phoenix-deadline", type=float, default=900, help="seconds to wait for Phoenix to store"
    )
    parser.set_defaults(runs=2000, protocol="http", spawn=True)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    if args.only in ("both", "agent-audit"):
        report["agent_audit"] = run_spawned(args)
    if args.only in ("both", "phoenix"):
        report["phoenix"] = run_phoenix(args)
    if args.only == "both" and "error" not in report["phoenix"]:
        report["comparison"] = compare(report["agent_audit"], report["phoenix"])
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if all("error" not in v for v in report.values() if isinstance(v, dict)) else 1


if __name__ == "__main__":
    sys.exit(main())
