"""Print the README's results table from a directory of benchmark JSON files.

    python -m bench.report /tmp/bench-final2

Expects the names the README's commands write (``--json DIR/NAME.json``): grpc50, http50,
http50gz, grpc1, http1 (bench.load), phoenix (bench.phoenix), query (bench.query time), and
readers.log (bench.query readers). Missing files leave their rows out.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["main", "results_table"]


def _load(directory: Path, name: str) -> dict[str, Any] | None:
    path = directory / name
    if not path.exists():
        return None
    text = path.read_text()
    start = text.rfind("\n{")  # readers.log ends with the summary object
    try:
        return json.loads(text if name.endswith(".json") else text[start + 1 :])  # type: ignore[no-any-return]
    except ValueError:
        return None


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        value = round(value, 1) if value < 100 else round(value)
    return f"{value:,}{unit}" if isinstance(value, int | float) else str(value)


def _ratio(ours: Any, theirs: Any, higher_is_better: bool) -> str:
    if not isinstance(ours, int | float) or not isinstance(theirs, int | float):
        return "–"
    if not ours or not theirs:
        return "–"
    return f"{(ours / theirs if higher_is_better else theirs / ours):.1f}x"


def results_table(directory: Path) -> str:
    """The markdown table: target, measured, Phoenix, ratio, command."""
    g50, h50 = _load(directory, "grpc50.json"), _load(directory, "http50.json")
    h50gz, g1, h1 = (
        _load(directory, "http50gz.json"),
        _load(directory, "grpc1.json"),
        _load(directory, "http1.json"),
    )
    side = _load(directory, "phoenix.json") or {}
    ph, aa = side.get("phoenix") or {}, side.get("agent_audit") or {}
    readers = _load(directory, "readers.log")
    query = _load(directory, "query.json")
    rows: list[tuple[str, str, str, str, str]] = []
    load = "python -m bench.load --spawn --runs 20000 --clients 4"
    if g50:
        rows.append(
            (
                "e2e durable ingest, gRPC, 50 runs/request, 4 clients: >= 15,000 spans/s",
                _fmt(g50["e2e_spans_per_s"]),
                "",
                "",
                f"`{load} --protocol grpc`",
            )
        )
    if h50 and g50:
        gap = 1 - h50["e2e_spans_per_s"] / g50["e2e_spans_per_s"]
        rows.append(
            (
                "OTLP/HTTP within 20% of gRPC",
                f"{_fmt(h50['e2e_spans_per_s'])} ({-gap:+.0%} vs gRPC)",
                "",
                "",
                f"`{load} --protocol http`",
            )
        )
    if h50gz:
        rows.append(
            (
                "(OTLP/HTTP + gzip)",
                _fmt(h50gz["e2e_spans_per_s"]),
                "",
                "",
                f"`{load} --protocol http --gzip`",
            )
        )
    if g1:
        rows.append(
            (
                "e2e, 1 run/request: >= 5,000 spans/s (gRPC)",
                _fmt(g1["e2e_spans_per_s"]),
                "",
                "",
                "`python -m bench.load --spawn --runs 4000 --runs-per-request 1 --clients 4`",
            )
        )
    if h1:
        rows.append(
            (
                "(1 run/request, OTLP/HTTP)",
                _fmt(h1["e2e_spans_per_s"]),
                "",
                "",
                "`... --runs-per-request 1 --protocol http`",
            )
        )
    if g50:
        rows.append(
            (
                "p99 ack -> visible in the API: < 1 s",
                _fmt(g50["ack_to_visible_ms_p99"], " ms"),
                _fmt(ph.get("last_ack_to_all_visible_s"), " s*"),
                "",
                f"`{load}`",
            )
        )
        for label, key, unit in (
            ("idle RSS: <= 110 MB", "idle_rss_mb", " MB"),
            ("peak RSS under the load: <= 300 MB", "peak_rss_mb_vmhwm", " MB"),
            ("database bytes per span: <= 1,500", "db_bytes_per_span", ""),
        ):
            # Phoenix is compared on the side-by-side load, with our figure from that run.
            theirs = f"{_fmt(ph.get(key), unit)} (ours there: {_fmt(aa.get(key), unit)})"
            rows.append(
                (
                    label,
                    _fmt(g50[key], unit),
                    theirs if ph else "",
                    _ratio(aa.get(key), ph.get(key), False),
                    f"`{load}`",
                )
            )
    if ph:
        rows.append(
            (
                "side by side, same load (OTLP/HTTP, 2,000 runs = 18,000 spans): e2e spans/s",
                _fmt(aa.get("e2e_spans_per_s")),
                _fmt(ph.get("e2e_spans_per_s")),
                _ratio(aa.get("e2e_spans_per_s"), ph.get("e2e_spans_per_s"), True),
                "`python -m bench.phoenix --runs 2000 --protocol http --clients 4`",
            )
        )
        rows.append(
            (
                "(side by side) collector CPU µs/span",
                _fmt(aa.get("collector_cpu_us_per_span")),
                _fmt(ph.get("collector_cpu_us_per_span")),
                _ratio(
                    aa.get("collector_cpu_us_per_span"), ph.get("collector_cpu_us_per_span"), False
                ),
                "same",
            )
        )
    if readers:
        rows.append(
            (
                "dashboard-like readers (3, every second) cost: <= 20% of ingest",
                f"{readers['cost']:.1%} ({_fmt(readers['without_readers_e2e_spans_per_s'])} -> "
                f"{_fmt(readers['with_readers_e2e_spans_per_s'])})",
                "",
                "",
                "`python -m bench.query readers --readers 3 --runs 10000`",
            )
        )
    if query:
        for case in query["cases"]:
            rows.append(
                (
                    f"1M runs: {case['case']}",
                    f"p50 {_fmt(case.get('p50_ms'))} / p95 {_fmt(case.get('p95_ms'))} ms",
                    "",
                    "",
                    "`python -m bench.query time --db /tmp/bench-query/1m.duckdb --repeat 15`",
                )
            )
    lines = ["| target | agent-audit | Phoenix | ratio | command |", "|---|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print(results_table(Path(args[0] if args else ".")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
