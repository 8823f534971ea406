"""Many big OTLP requests at once: the collector's peak memory, and that nothing is lost.

``--senders`` threads (half gRPC, half OTLP/HTTP protobuf; ``--kinds``) each send
``--requests`` runs of about ``--request-mb`` MB (a few tool results of that
size; the stored copy is truncated, the body is not), every one until it is
acknowledged, retrying after a retryable answer. Printed per collector: the
answers, seconds until the last acknowledgement, RSS when idle and at its peak
during the flood (VmHWM, reset before it), and whether every acknowledged span
is in the file after the stop. ``/healthz``'s in-flight figures are printed
when the collector has them.

With ``--baseline TREE`` the same flood runs against a collector started from
another checkout (e.g. ``git archive`` of an older commit), one after the other.

Usage::

    PYTHONPATH=$PWD python -m bench.inflight_flood
    PYTHONPATH=$PWD python -m bench.inflight_flood --baseline /tmp/old-tree --senders 48
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import duckdb
import httpx

from bench.collector_proc import REPO, proc_status_kb, reset_peak_rss, spawn_collector
from bench.reliability.flood import flood
from bench.reliability.harness import RunRequest, build_run_request

_STEPS = 8


def _work(
    senders: int, requests: int, request_mb: float, first: int, kinds: tuple[str, ...]
) -> dict[str, list[RunRequest]]:
    payload = int(request_mb * 1_000_000 / _STEPS)
    return {
        f"{kinds[n % len(kinds)]}#{n}": [
            build_run_request(first + n, seq, _STEPS, payload_bytes=payload)
            for seq in range(requests)
        ]
        for n in range(senders)
    }


def _run(tree: Path, label: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="inflight-flood-") as folder:
        db = Path(folder) / "flood.duckdb"
        collector = spawn_collector(db, repo=tree)
        try:
            warm = flood(
                collector.grpc_target,
                collector.http_url,
                _work(4, 1, 0.1, first=9000, kinds=args.kinds),
                seed=1,
                deadline_s=120,
            )
            idle_kib = proc_status_kb(collector.pid, "VmRSS")
            reset_peak_rss(collector.pid)
            work = _work(args.senders, args.requests, args.request_mb, first=100, kinds=args.kinds)
            result = flood(
                collector.grpc_target,
                collector.http_url,
                work,
                seed=2,
                deadline_s=args.deadline_s,
            )
            peak_kib = proc_status_kb(collector.pid, "VmHWM")
            health = httpx.get(collector.http_url + "/healthz", timeout=60).json()
        finally:
            collector.stop()
        with duckdb.connect(str(db), read_only=True) as con:
            row = con.execute("SELECT count(*) FROM spans").fetchone()
        stored = row[0] if row else 0
        acked = result.acked_spans + warm.acked_spans
        offered_mb = args.senders * args.request_mb
        print(
            f"{label}: {args.senders} senders x {args.requests} x {args.request_mb:g} MB "
            f"({offered_mb:.0f} MB offered at once): answers {dict(result.outcomes)}, "
            f"{len(result.unacked)} never acknowledged, {len(result.bad_answers)} bad answers, "
            f"{result.elapsed_s:.1f} s; "
            f"RSS idle {idle_kib / 1024:.0f} MiB, peak {peak_kib / 1024:.0f} MiB "
            f"(+{(peak_kib - idle_kib) / 1024:.0f} MiB); spans acknowledged {acked}, "
            f"stored {stored} ({'all' if stored == acked else 'MISSING SOME'})"
        )
        if "inflight_peak_bytes" in health:
            # A tree whose budget waits (inflight_waited) charges what bodies cost in
            # memory; an older one counted body bytes.
            charged = "charged" if "inflight_waited" in health else "of body bytes held"
            print(
                f"  in flight: peak {health['inflight_peak_bytes'] / 2**20:.1f} MiB {charged}, "
                f"{health.get('inflight_waited', 0)} requests waited for room, "
                f"{health['inflight_refused']} refused"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    parser.add_argument("--senders", type=int, default=48)
    parser.add_argument("--requests", type=int, default=2, help="requests per sender")
    parser.add_argument("--request-mb", type=float, default=8.0)
    parser.add_argument("--deadline-s", type=float, default=600.0)
    parser.add_argument(
        "--kinds",
        type=lambda text: tuple(text.split(",")),
        default=("http-protobuf", "grpc"),
        help="senders' kinds, taken in turn: grpc, http-protobuf, http-json",
    )
    args = parser.parse_args()
    _run(REPO, "this tree", args)
    if args.baseline:
        _run(args.baseline, "baseline", args)


if __name__ == "__main__":
    main()
