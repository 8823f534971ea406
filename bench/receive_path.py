"""CPU per span of the receive path before the writer: protobuf decode, then redaction.

Both run on the receivers' threads and share the GIL with the writer, so every
microsecond here is one the writer cannot use. In-process, on the same seeded
agent-shaped requests as ``bench.load``; prints JSON.

    python -m bench.receive_path --runs 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from bench.workload import WorkloadSpec, generate_requests
from collector.decode import decode_protobuf
from collector.redact import Sanitizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--runs-per-request", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5, help="repeats; the median is printed")
    args = parser.parse_args(argv)

    spec = WorkloadSpec(runs=args.runs, runs_per_request=args.runs_per_request)
    bodies = [request.body for request in generate_requests(spec)]
    sanitizer = Sanitizer()
    decode_us: list[float] = []
    redact_us: list[float] = []
    spans = 0
    for _ in range(args.rounds):
        started = time.perf_counter()
        decoded = [decode_protobuf(body) for body in bodies]
        decoded_at = time.perf_counter()
        for request in decoded:
            sanitizer.apply(request.spans)
        finished = time.perf_counter()
        spans = sum(len(request.spans) for request in decoded)
        decode_us.append((decoded_at - started) / spans * 1e6)
        redact_us.append((finished - decoded_at) / spans * 1e6)
    result = {
        "spans": spans,
        "rounds": args.rounds,
        "decode_us_per_span_p50": round(statistics.median(decode_us), 1),
        "redact_us_per_span_p50": round(statistics.median(redact_us), 1),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
