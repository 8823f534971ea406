"""A small agent traced with the real instrumentation, driven line by line on stdin.

Run as ``python -m tests.reliability.agent_process ENDPOINT [--spool-dir DIR]
[--heartbeat-s S]``. Commands (one per line):

- ``run``: one whole run of three steps; prints ``{"run_id": ..., "steps": 3}``.
- ``open``: starts a run, does one step, prints ``{"run_id": ...}`` and leaves the run open.
- ``finish``: finishes the open run; prints ``{"finished": run_id}``.
- ``spool``: prints ``{"spooled_files": n}``.
- ``exit``: bounded shutdown, prints ``{"exit": flushed}``.

It is a test fixture process, so it prints its protocol to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from instrumentation import agent_run, configure, shutdown


def _say(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def _one_run(number: int) -> str:
    with agent_run(f"check the web containers #{number}", agent_name="reliability-agent") as run:
        with run.step("think", model="scripted") as step:
            step.set_thinking("list containers, then read the logs")
            step.set_tokens(input_tokens=100, output_tokens=10)
        with run.step("tool_call", tool_name="docker_ps", tool_args={"all": True}) as step:
            step.set_result("web-1 Up 3 hours\nweb-2 Exited (137)")
        with run.step("tool_call", tool_name="docker_logs", tool_args={"c": "web-2"}) as step:
            step.set_result("Killed: out of memory")
        run.finish(final_answer=f"web-2 ran out of memory (#{number})")
        return run.id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint")
    parser.add_argument("--spool-dir", type=Path)
    parser.add_argument("--heartbeat-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    configure(
        endpoint=args.endpoint,
        protocol="grpc",
        service_name="reliability-agent",
        heartbeat_s=args.heartbeat_s,
        spool_dir=args.spool_dir,
        spool_retry_s=0.2,
        cancel_poll_s=None,
        export_timeout_s=1.0,
        schedule_delay_ms=100,
        shutdown_timeout_s=20.0,
    )
    number = 0
    open_run: Any = None
    open_id = ""
    for line in sys.stdin:
        command = line.strip()
        if command == "run":
            number += 1
            _say({"run_id": _one_run(number), "steps": 3})
        elif command == "open":
            open_run = agent_run("a long investigation", agent_name="reliability-agent")
            run = open_run.__enter__()
            with run.step("tool_call", tool_name="docker_ps", tool_args={}) as step:
                step.set_result("ok")
            open_id = run.id
            _say({"run_id": open_id})
        elif command == "finish" and open_run is not None:
            open_run.__exit__(None, None, None)
            _say({"finished": open_id})
            open_run = None
        elif command == "spool":
            files = list(args.spool_dir.glob("*.otlp")) if args.spool_dir else []
            _say({"spooled_files": len(files)})
        elif command == "exit":
            with contextlib.suppress(Exception):
                flushed = shutdown(20.0)
                _say({"exit": flushed})
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
