"""Soak: hold a collector far beyond its queue for minutes; answers, memory, nothing lost.

The long version of tests/reliability/test_overload.py. Run from the repository root::

    python -m bench.soak_overload --minutes 10

A collector subprocess with a small queue (AGENT_AUDIT_MAX_QUEUED_SPANS) and a
1 MiB request limit is flooded by many senders (gRPC, OTLP/HTTP protobuf and
JSON) in rounds, each sender retrying refused requests after a short jittered
pause. Prints the answers seen, throughput, resident memory (idle, per minute,
peak VmHWM) and checks, after a clean stop, that every acknowledged span is in
the file. Exits 1 on any non-retryable answer or a missing span.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb

from bench.reliability.flood import flood
from bench.reliability.harness import CollectorProcess, RunRequest, build_run_request

KINDS = ("grpc", "http-protobuf", "http-json")


def _round(number: int, senders: int, steps: int, payload: int) -> dict[str, list[RunRequest]]:
    return {
        f"{KINDS[n % 3]}#{n}": [
            build_run_request(1000 + n, number * 100 + seq, steps, payload_bytes=payload)
            for seq in range(4)
        ]
        for n in range(senders)
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--senders", type=int, default=24)
    parser.add_argument("--max-queued-spans", type=int, default=200)
    parser.add_argument("--steps", type=int, default=19, help="steps per run (spans - 1)")
    parser.add_argument("--payload-bytes", type=int, default=4000, help="tool result size")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="soak-overload-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "overload.duckdb"
    collector = CollectorProcess(
        db,
        log_dir=workdir / "logs",
        env={
            "AGENT_AUDIT_MAX_QUEUED_SPANS": str(args.max_queued_spans),
            "AGENT_AUDIT_MAX_REQUEST_BYTES": str(1024 * 1024),
        },
    ).start()
    outcomes: Counter[str] = Counter()
    hints: Counter[float] = Counter()
    bad: list[str] = []
    acked_spans = 0
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    began = time.monotonic()

    def sample() -> None:
        while not stop.wait(1.0):
            samples.append((time.monotonic() - began, collector.vm_rss_kib()))

    idle_kib = collector.vm_rss_kib()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rounds = 0
    try:
        while time.monotonic() - began < args.minutes * 60:
            result = flood(
                collector.grpc_target,
                collector.http_endpoint,
                _round(rounds, args.senders, args.steps, args.payload_bytes),
                seed=rounds,
                deadline_s=600,
            )
            rounds += 1
            outcomes.update(result.outcomes)
            hints.update(result.retry_hints_s)
            bad += result.bad_answers + [f"unacknowledged {r.run_id}" for r in result.unacked]
            acked_spans += result.acked_spans
            print(
                f"{time.monotonic() - began:6.0f}s round {rounds}: {dict(result.outcomes)} "
                f"rss {collector.vm_rss_kib() // 1024} MiB",
                flush=True,
            )
        peak_kib = collector.vm_hwm_kib()
        elapsed = time.monotonic() - began
    finally:
        stop.set()
        sampler.join(5)
        exit_code = collector.terminate(timeout_s=120)
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute("SELECT count(*) FROM spans").fetchone()
    stored_spans = stored[0] if stored else 0
    per_minute = [
        f"{int(t // 60)}m:{kib // 1024}" for t, kib in samples if int(t) % 60 == 0 or t < 2
    ]
    print(f"workdir                      {workdir}")
    print(f"senders / queue bound        {args.senders} / {args.max_queued_spans} spans")
    print(f"span per request / result    {args.steps + 1} / {args.payload_bytes} bytes")
    print(f"elapsed (s)                  {elapsed:.0f} in {rounds} rounds")
    print(f"answers                      {dict(outcomes)}")
    print(f"retry hints (s)              {dict(hints)}")
    print(f"non-retryable answers        {len(bad)}")
    print(f"spans acknowledged / stored  {acked_spans} / {stored_spans}")
    print(f"stored spans per second      {stored_spans / elapsed:.0f}")
    print(f"RSS idle / peak (VmHWM) MiB  {idle_kib // 1024} / {peak_kib // 1024}")
    print(f"RSS by minute (MiB)          {' '.join(per_minute)}")
    print(f"SIGTERM exit code            {exit_code}")
    for line in bad[:20]:
        print(f"  {line}")
    return 1 if bad or stored_spans != acked_spans or exit_code != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
