"""``agent-audit demo``: sample agent runs sent through the real instrumentation.

Most runs investigate a crashing container and complete (an LLM step with
tokens, ``docker_ps`` / ``docker_logs`` / ``docker_inspect`` tool steps, a
response); one fails (a tool raises), one stops at max_steps, and one stays
running for ``--running-seconds``, polling logs (cancel it from the dashboard or
with the API to see it end ``cancelled``). The nginx investigation first asks for
``docker logs --follow``, which the SSH tools' allowlist refuses: a refusal on
purpose, labelled in the output and in the run's metadata, after which the agent
reads the last lines instead. Nothing here touches a real server: the tool
results are canned, and tools take a few multiples of ``--pace`` as real ones do.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from instrumentation import RunCancelled, RunHandle, agent_run, configure, shutdown, traced_tool
from instrumentation import setup as _setup
from instrumentation.run import RunScope

__all__ = ["add_arguments", "run"]

AGENT_NAME = "ops-demo"
MODEL = "qwen2.5-coder:14b"
MAX_STEPS = 6


@dataclass(frozen=True)
class Incident:
    container: str
    task: str
    logs: str
    cause: str
    tries_follow: bool = False  # asks for a live log stream first, which is refused


INCIDENTS = (
    Incident(
        "web-1",
        "web-1 keeps restarting since the 14:00 deploy, find out why",
        "2025-06-02T14:03:11Z INFO  starting gunicorn 22.0.0\n"
        "2025-06-02T14:03:12Z INFO  loading model cache (2.1 GiB)\n"
        "2025-06-02T14:03:19Z ERROR worker pid 31 killed by signal 9 (OOM)\n"
        "2025-06-02T14:03:19Z INFO  shutting down: master",
        "the container is OOM-killed: its 2 GiB limit is below the 2.1 GiB model cache "
        "loaded at start. Raise the memory limit to 3 GiB or disable the cache preload.",
    ),
    Incident(
        "db-main",
        "db-main exited with code 137 overnight, what happened?",
        "2025-06-02T03:12:44Z LOG:  checkpoint starting: time\n"
        "2025-06-02T03:12:58Z LOG:  could not write to file pg_wal/xlogtemp.88: "
        "No space left on device\n"
        "2025-06-02T03:12:58Z PANIC: could not write to file pg_wal/xlogtemp.88",
        "Postgres panicked when /var/lib/docker ran out of disk space while writing WAL; "
        "docker then killed it (137). Free space (old images: 38 GiB) and restart db-main.",
    ),
    Incident(
        "nginx",
        "users get 502 from nginx, is the upstream down?",
        "2025/06/02 09:41:07 [error] 29#29: *5121 connect() failed (111: Connection refused) "
        'while connecting to upstream, upstream: "http://172.18.0.5:8000/"',
        "nginx is fine; its upstream api-1 is not listening on 8000 after a config change "
        "moved it to 8080. Point the upstream at api-1:8080 or revert the port change.",
        tries_follow=True,
    ),
)
PLANNED_REFUSAL = "docker logs --follow"

PS_OUTPUT = (
    "CONTAINER ID   IMAGE              STATUS                          NAMES\n"
    "4f1c2a9e0b7d   ghcr.io/acme/web   Restarting (137) 8 seconds ago  web-1\n"
    "9b0e11d3c2aa   postgres:16        Exited (137) 6 hours ago        db-main\n"
    "1d77a0c4e5f2   nginx:1.27         Up 3 days                       nginx\n"
    "c3e9f00b1a42   ghcr.io/acme/api   Up 2 hours                      api-1"
)


class _Latency:
    """How long the canned tools take: a few multiples of the demo's pace, like real ones."""

    def __init__(self) -> None:
        self.pace_s = 0.0
        self.random = random.Random(0)  # noqa: S311 (sample values, not secrets)

    def spend(self, low: float, high: float) -> None:
        if self.pace_s > 0:
            time.sleep(self.pace_s * self.random.uniform(low, high))


_latency = _Latency()


@traced_tool
def docker_ps(all: bool = False) -> str:  # noqa: A002 (docker's own flag name)
    """Canned ``docker ps`` output."""
    _latency.spend(1.5, 3.0)
    return PS_OUTPUT


@traced_tool
def docker_logs(container: str, tail: int = 50, since: str | None = None) -> str:
    """Canned ``docker logs`` output of the incident's container."""
    _latency.spend(2.0, 6.0)
    for incident in INCIDENTS:
        if incident.container == container:
            return incident.logs
    return ""


@traced_tool
def docker_inspect(container: str) -> dict[str, object]:
    """Canned ``docker inspect`` summary."""
    _latency.spend(1.0, 2.0)
    return {"Name": container, "RestartCount": 14, "HostConfig": {"Memory": 2147483648}}


@traced_tool
def docker_logs_unreachable(container: str, tail: int = 50) -> str:
    """The SSH connection to the host times out."""
    _latency.spend(8.0, 10.0)
    raise ConnectionError("ssh: connect to host 10.0.4.12 port 22: Connection timed out")


class PolicyRefused(Exception):
    """What the SSH tools raise for a command their allowlist refuses (nothing runs)."""


# The SSH tools' default policy refuses a log stream with this reason (tests compare it).
FOLLOW_REFUSAL = "option '--follow' is not allowed for docker logs"


@traced_tool(name="docker_logs")
def docker_logs_follow(container: str, tail: int = 50, follow: bool = True) -> str:
    """What the SSH tools do with a streaming request: the allowlist refuses it, nothing runs."""
    raise PolicyRefused(f"refused by client policy: {FOLLOW_REFUSAL}")


class Demo:
    """Runs the sample scenarios, pacing steps so they look like a real agent."""

    def __init__(self, *, seed: int, pace_s: float, running_s: float) -> None:
        self._random = random.Random(seed)  # noqa: S311 (sample values, not secrets)
        self._pace_s = pace_s
        self._running_s = running_s
        _latency.pace_s = pace_s
        _latency.random = random.Random(seed + 1)  # noqa: S311

    def _pause(self) -> None:
        if self._pace_s > 0:
            time.sleep(self._pace_s * self._random.uniform(0.5, 1.5))

    def _think(self, run: RunHandle, thought: str) -> None:
        with run.step("think", model=MODEL) as step:
            self._pause()
            step.set_thinking(thought)
            step.set_model(MODEL)
            step.set_tokens(
                input_tokens=self._random.randint(600, 2400),
                output_tokens=self._random.randint(40, 220),
            )

    def _start(self, task: str, kind: str, **extra: str) -> RunScope:
        return agent_run(
            task,
            agent_name=AGENT_NAME,
            source="demo",
            triggered_by="agent-audit demo",
            model_requested=MODEL,
            provider="ollama",
            backend="3090",
            working_directory="/srv/stack",
            metadata={"scenario": kind, **extra},
        )

    def completed(self, index: int) -> RunHandle:
        incident = INCIDENTS[index % len(INCIDENTS)]
        extra = {"planned_refusal": PLANNED_REFUSAL} if incident.tries_follow else {}
        with self._start(incident.task, "completed", **extra) as run:
            run.set_model_used(MODEL)
            self._think(run, f"Check the state of {incident.container} first.")
            docker_ps(all=True)
            self._pause()
            if incident.tries_follow:
                self._think(run, f"Follow {incident.container}'s logs to catch the next 502.")
                # Planned: streaming is refused; the agent reads the tail instead.
                with contextlib.suppress(PolicyRefused):
                    docker_logs_follow(incident.container, tail=20, follow=True)
                self._think(run, "Streaming logs is refused; read the last lines instead.")
            else:
                self._think(run, f"{incident.container} is unhealthy; read its logs.")
            docker_logs(incident.container, tail=100)
            self._pause()
            docker_inspect(incident.container)
            self._think(run, "The logs explain it; answer.")
            with run.step("response") as step:
                step.set_result(incident.cause)
            run.finish(final_answer=incident.cause)
        return run

    def failed(self) -> RunHandle:
        task = "worker-3 on box-4 is unhealthy, check it"
        try:
            with self._start(task, "failed") as run:
                self._think(run, "Read worker-3's logs on box-4.")
                docker_logs_unreachable("worker-3", tail=100)
        except ConnectionError:
            pass  # the run is recorded as failed; that is the point of this scenario
        return run

    def max_steps(self) -> RunHandle:
        task = "find which container leaks file descriptors"
        with self._start(task, "max_steps") as run:
            for step_number in range(MAX_STEPS // 2):
                self._think(run, f"Attempt {step_number + 1}: list containers and compare.")
                docker_ps(all=False)
            run.finish(status="max_steps")
        return run

    def running(self, announce: Callable[[RunHandle], None]) -> RunHandle:
        task = "watch api-1's logs for the next timeout and explain it"
        try:
            with self._start(task, "running") as run:
                announce(run)
                self._think(run, "Poll api-1's logs until a timeout shows up.")
                deadline = time.monotonic() + self._running_s
                interval_s = min(2.0, max(self._running_s / 4, 0.05))
                while time.monotonic() < deadline:
                    # run.step() raises RunCancelled here once a cancel was requested
                    docker_logs("api-1", tail=20, since=f"{interval_s:g}s")
                    pause_until = min(deadline, time.monotonic() + interval_s)
                    while time.monotonic() < pause_until and not run.cancel_requested:
                        time.sleep(min(0.25, max(0.0, pause_until - time.monotonic())))
                with run.step("tool_call", tool_name="docker_logs",
                              tool_args={"container": "api-1", "tail": 20}) as step:  # fmt: skip
                    _latency.spend(2.0, 6.0)
                    step.set_result("2025-06-02T10:15:02Z WARN upstream timed out after 30 s")
                answer = "api-1 timed out calling the payments API (30 s); raise its timeout."
                with run.step("response") as response:
                    response.set_result(answer)
                run.finish(final_answer=answer)
        except RunCancelled:
            pass
        return run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``agent-audit demo``."""
    parser.add_argument(
        "--endpoint",
        help="OTLP endpoint (default: OTEL_EXPORTER_OTLP_ENDPOINT or the local collector)",
    )
    parser.add_argument(
        "--protocol", choices=("grpc", "http"), help="OTLP protocol (default: grpc)"
    )
    parser.add_argument("--api", help="collector API for cancel requests (default: derived)")
    parser.add_argument("--runs", type=int, default=6, help="number of runs (default: 6)")
    parser.add_argument(
        "--running-seconds",
        type=float,
        default=20.0,
        help="how long the long-running run stays running (default: 20)",
    )
    parser.add_argument(
        "--pace", type=float, default=0.15, help="seconds per step, about (default: 0.15)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the sample values")


def _plan(runs: int) -> list[str]:
    special = ["failed", "max_steps", "running"]
    if runs <= len(special):
        return (["completed", *special])[:runs]
    return ["completed"] * (runs - len(special)) + special


def run(args: argparse.Namespace) -> int:
    """Send the sample runs; returns 0 when every span reached the collector."""
    if args.runs < 1:
        print("--runs must be at least 1")
        return 2
    configuration = configure(
        endpoint=args.endpoint,
        protocol=args.protocol,
        service_name="agent-audit-demo",
        api_url=args.api,
        heartbeat_s=5.0,
    )
    target = configuration.export.endpoint if configuration.export else "your tracer provider"
    poller = _setup.cancel_poller()
    cancels = f"; cancel requests from {poller.api_url}" if poller is not None else ""
    print(f"sending {args.runs} sample runs to {target}{cancels}", flush=True)
    demo = Demo(seed=args.seed, pace_s=max(0.0, args.pace), running_s=args.running_seconds)
    plan = _plan(args.runs)
    completed_index = 0
    started = time.monotonic()

    def report(number: int, handle: RunHandle, note: str = "") -> None:
        print(
            f"run {number}/{len(plan)} {handle.status:<10} {handle.id}  {handle.task}{note}"
            f"  [{time.monotonic() - started:.1f} s]",
            flush=True,  # progress, also when the output is a pipe
        )

    for number, kind in enumerate(plan, start=1):
        if kind == "completed":
            incident = INCIDENTS[completed_index % len(INCIDENTS)]
            note = (
                f"  (one step refused by the allowlist, on purpose: {PLANNED_REFUSAL})"
                if incident.tries_follow
                else ""
            )
            report(number, demo.completed(completed_index), note)
            completed_index += 1
        elif kind == "failed":
            report(number, demo.failed(), "  (a tool raised, as planned)")
        elif kind == "max_steps":
            report(number, demo.max_steps())
        else:

            def announce(handle: RunHandle, number: int = number) -> None:
                print(
                    f"run {number}/{len(plan)} running    {handle.id}  {handle.task}"
                    f"  (for {args.running_seconds:g} s; cancel it to see it end cancelled)",
                    flush=True,
                )

            report(number, demo.running(announce))
    flushed = shutdown(timeout_s=10)
    dropped = _setup.last_dropped_spans()
    if dropped or not flushed:
        print(f"{dropped} spans could not be sent to {target}: is the collector running?")
        return 1
    print("done: see them with `agent-audit runs` or in the dashboard")
    return 0
