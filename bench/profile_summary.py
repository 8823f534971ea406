"""Summarise a py-spy ``--format raw --threads`` profile: where each thread spends its time.

    python -m bench.profile_summary /tmp/bench-out/base.raw [--thread duckdb-writer] [--top 25]

Prints, per thread, its share of all samples, then for the chosen thread the
functions by inclusive share (a function counted once per stack) and the
leaf frames by self share.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

__all__ = ["load_stacks", "main"]

_THREAD = re.compile(r"^thread \(\w+\): ?(?P<name>[^;]*)")
_FRAME_LOC = re.compile(r" \((?P<file>[^:()]+):\d+\)$")


def load_stacks(path: Path) -> list[tuple[str, list[str], int]]:
    """(thread name, frames root first without line numbers, sample count) per line."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        match = _THREAD.match(frames[0])
        thread = match["name"] if match and match["name"] else frames[0]
        cleaned = [_FRAME_LOC.sub(lambda m: f" ({m['file']})", f) for f in frames[1:]]
        stacks.append(
            (thread.split("_")[0] if thread.startswith("otlp") else thread, cleaned, int(count))
        )
    return stacks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--thread", default="duckdb-writer")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    stacks = load_stacks(args.profile)
    total = sum(c for _, _, c in stacks)
    by_thread: Counter[str] = Counter()
    for thread, _, count in stacks:
        by_thread[thread] += count
    print(f"{total} samples (active only)")
    for thread, count in by_thread.most_common(12):
        print(f"  {count / total:6.1%}  {thread}")
    chosen = [(f, c) for t, f, c in stacks if t == args.thread]
    own_total = sum(c for _, c in chosen) or 1
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    for frames, count in chosen:
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            leaf[frames[-1]] += count
    print(f"\n{args.thread}: inclusive share of its {own_total} samples")
    for frame, count in inclusive.most_common(args.top):
        print(f"  {count / own_total:6.1%}  {frame}")
    print(f"\n{args.thread}: self (leaf) share")
    for frame, count in leaf.most_common(args.top):
        print(f"  {count / own_total:6.1%}  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
