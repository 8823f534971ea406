"""Redaction time against input size: time per byte must stay flat from 4 KB to 1 MB.

For hostile shapes (long runs that make backtracking engines explode) and for
ordinary text, ``redact_text`` runs on inputs of 4 KB, 16 KB, 64 KB, 256 KB and
1 MB. Noise is kept out three ways: the clock is the thread's own CPU time
(other processes on a busy machine do not count), the sizes are timed in
interleaved rounds (a slow moment hits every size alike), and each figure is
the median of the rounds. Printed per shape and size: the time per byte and
its growth against 4 KB, the ratio that shows the bound: linear time keeps it
near 1 (below, where a fixed cost per call is spread over more bytes), a
quadratic pattern would reach 256 at 1 MB.

    PYTHONPATH=$PWD python bench/redaction_linear.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from instrumentation.redaction import RedactionPolicy, Redactor

SHAPES: dict[str, Callable[[int], str]] = {
    "key=value run": lambda n: "password" + "=a" * (n // 2),
    "quoted, never closed": lambda n: 'token: "' + "\\a" * (n // 2),
    "url without @": lambda n: "postgres://u:" + "p" * n,
    "separators before a key": lambda n: "a_" * (n // 2) + "password",
    "base64 run": lambda n: "Ab1/" * (n // 4),
    "pem, no end": lambda n: "-----BEGIN RSA PRIVATE KEY-----\n" + "A" * n,
    "bearer tokens": lambda n: ("Authorization: Bearer abcdefgh12345678\n" * n)[:n],
    "ordinary log text": lambda n: ("docker ps -a; container web is up 3 hours\n" * n)[:n],
}
SIZES = [4_000, 16_000, 64_000, 256_000, 1_024_000]
# Per-byte growth past this (against 4 KB) is reported as not linear.
GROWTH_LIMIT = 2.0


def cpu_seconds(fn: Callable[[], object], min_s: float = 0.005) -> float:
    """Thread CPU time of one call, repeated within the sample when it is too short to read."""
    calls = 0
    started = time.thread_time()
    while True:
        fn()
        calls += 1
        spent = time.thread_time() - started
        if spent >= min_s:
            return spent / calls


def per_byte_medians(clean: Redactor, make: Callable[[int], str], rounds: int) -> dict[int, float]:
    texts = {size: make(size) for size in SIZES}
    samples: dict[int, list[float]] = {size: [] for size in SIZES}
    for _ in range(rounds):  # interleaved: each round times every size once
        for size, text in texts.items():
            seconds = cpu_seconds(lambda text=text: clean.redact_text(text))
            samples[size].append(seconds / len(text))
    return {size: statistics.median(values) for size, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (median)")
    args = parser.parse_args(argv)
    # No cut, no budget: the patterns alone, on the whole input.
    clean = Redactor(RedactionPolicy(max_value_bytes=10**9, time_budget_s=3600))
    header = f"{'shape':26} " + " ".join(f"{size // 1000:>7} KB" for size in SIZES)
    print("ns per byte (median of rounds, thread CPU time); growth against 4 KB below")
    print(header)
    worst = (0.0, "", 0)
    for name, make in SHAPES.items():
        medians = per_byte_medians(clean, make, args.rounds)
        base = medians[SIZES[0]]
        growth = {size: medians[size] / base for size in SIZES}
        print(f"{name:26} " + " ".join(f"{medians[s] * 1e9:>10.2f}" for s in SIZES))
        print(f"{'  growth':26} " + " ".join(f"{growth[s]:>10.2f}" for s in SIZES))
        for size in SIZES[1:]:
            if growth[size] > worst[0]:
                worst = (growth[size], name, size)
    verdict = "linear" if worst[0] <= GROWTH_LIMIT else "NOT LINEAR"
    print(
        f"worst growth of time per byte: {worst[0]:.2f} ({worst[1]}, {worst[2] // 1000} KB "
        f"against 4 KB; 1.00 = flat, a quadratic pattern gives 256 at 1 MB): {verdict}"
    )
    return 0 if verdict == "linear" else 1


if __name__ == "__main__":
    raise SystemExit(main())
