"""Redaction time against input size: the ratio shows it is linear.

For hostile shapes (long runs that make backtracking engines explode) and for
ordinary text, time ``redact_text`` on inputs growing 4x at a time and print
the time per byte and the ratio between successive sizes. Linear time shows as
a time ratio near the size ratio (4.0); a backtracking pattern would show a
ratio near 16 or worse.

    PYTHONPATH=$PWD python bench/redaction_linear.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

from collector.redact import RedactionPolicy, Sanitizer

SHAPES: dict[str, Callable[[int], str]] = {
    "key=value run": lambda n: "password" + "=a" * (n // 2),
    "quoted, never closed": lambda n: 'token: "' + "\\a" * (n // 2),
    "url without @": lambda n: "postgres://u:" + "p" * n,
    "separators before a key": lambda n: "a_" * (n // 2) + "password",
    "base64 run": lambda n: "Ab1/" * (n // 4),
    "pem, no end": lambda n: "-----BEGIN RSA PRIVATE KEY-----\n" + "A" * n,
    "ordinary log text": lambda n: ("docker ps -a; container web is up 3 hours\n" * n)[:n],
}
SIZES = [4_000, 16_000, 64_000, 256_000, 1_024_000]


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    # No cut, no budget: the patterns alone, on the whole input.
    clean = Sanitizer(RedactionPolicy(max_value_bytes=10**9, time_budget_s=3600))
    print(f"{'shape':26} {'bytes':>9} {'ms':>9} {'ns/byte':>8} {'ratio':>6}")
    worst = 0.0
    for name, make in SHAPES.items():
        previous = None
        for size in SIZES:
            text = make(size)
            seconds = best_of(lambda text=text: clean.redact_text(text))
            ratio = seconds / previous if previous else float("nan")
            if previous:
                worst = max(worst, ratio)
            previous = seconds
            print(
                f"{name:26} {len(text):>9} {seconds * 1e3:>9.2f} "
                f"{seconds * 1e9 / len(text):>8.1f} {ratio:>6.2f}"
            )
    print(f"size ratio between rows: 4.00; worst time ratio: {worst:.2f}")


if __name__ == "__main__":
    main()
