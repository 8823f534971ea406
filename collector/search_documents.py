"""What the search index holds per run, and building the whole index in one pass.

One tantivy document per run (:func:`run_document`):

- ``id`` (raw, stored): the run id, also looked up by prefix;
- ``started_us`` (fast): the run's start, for newest-first order and time filters;
- ``status``, ``source``, ``agent_name``, ``model``, ``tool`` (raw): the run-list filters;
- ``flag`` (raw): ``error`` when the run failed or was lost, has an error, or a step failed
  (the ``has_error`` filter);
- ``annotation`` (raw): what the ``annotation`` filter looks for (:func:`annotation_term`):
  ``any`` on every annotated run, ``verdict:good`` / ``verdict:bad`` for the latest verdict,
  ``label:<text>`` for each label;
- ``text`` (words, lowercased): task, final answer and every step's arguments,
  result, thinking and error; ``q`` of plain words matches here;
- ``sub`` (trigrams, lowercased): task and final answer as overlapping 3-character
  pieces; a ``q`` that is not plain words (``bytes=123456``, a run id with its
  dashes) finds its candidate runs here, and SQL then checks the substring on them.

:func:`build_index` writes the index of a whole database in one pass (a first
start on a big file, or a bench build) instead of the follower's 2,000-run steps.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

__all__ = [
    "FORMAT",
    "TRIGRAM",
    "RUN_FIELDS",
    "STEP_TEXT",
    "build_schema",
    "register_tokenizers",
    "run_document",
    "trigrams",
    "annotation_term",
    "annotation_terms",
    "build_index",
]

FORMAT = "3"  # bump when the document layout changes: the index is rebuilt
TRIGRAM = "trigram"
EPOCH = datetime(1970, 1, 1)

# The run columns a document is made of, in this order (updated_at at 10).
RUN_FIELDS = """id, CAST(epoch_us(started_at) AS BIGINT), status, source, agent_name,
           model_used, model_requested, tool_names, task, final_answer, updated_at, error"""

# Steps start after their run (an hour's margin for clocks of other hosts): the bound
# lets DuckDB skip old row groups by their min/max instead of reading every step.
STEP_TEXT = """
    SELECT agent_run_id,
           string_agg(concat_ws(' ', tool_args, tool_result, thinking, error), ' '),
           bool_or(status = 'error')
    FROM agent_steps
    WHERE agent_run_id IN (SELECT unnest(?))
      AND (started_at >= ? - INTERVAL 1 HOUR OR started_at IS NULL)
    GROUP BY agent_run_id
"""


# (created_at, id) of the newest annotation: where the follower's annotation pass starts.
LAST_ANNOTATION = "SELECT created_at, id FROM annotations ORDER BY created_at DESC, id DESC LIMIT 1"


def build_schema(tantivy: Any) -> Any:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_integer_field("started_us", fast=True, indexed=True)
    for name in ("status", "source", "agent_name", "model", "tool", "flag", "annotation"):
        builder.add_text_field(name, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("text", index_option="basic")
    builder.add_text_field("sub", tokenizer_name=TRIGRAM, index_option="basic")
    return builder.build()


def register_tokenizers(tantivy: Any, index: Any) -> None:
    """The trigram analyzer of ``sub``: every index object needs it before reading or writing."""
    analyzer = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.ngram(3, 3, False))
        .filter(tantivy.Filter.lowercase())
        .build()
    )
    index.register_tokenizer(TRIGRAM, analyzer)


def trigrams(text: str) -> list[str]:
    """The distinct lowercased 3-character pieces of ``text`` (none when shorter than 3)."""
    lowered = text.lower()
    return sorted({lowered[i : i + 3] for i in range(len(lowered) - 2)})


def annotation_term(value: str) -> str:
    """The ``annotation`` term of a filter value: ``good`` / ``bad``, ``any``, or a label."""
    if value in ("good", "bad"):
        return f"verdict:{value}"
    return "any" if value == "any" else f"label:{value}"


# The annotation terms of some runs: the same runs as collector.annotations'
# annotation_condition keeps (the latest good/bad verdict; any; each label).
_ANNOTATIONS_OF = """
    SELECT run_id,
           arg_max(kind, created_at) FILTER (WHERE kind IN ('good', 'bad')),
           list(DISTINCT value) FILTER (WHERE kind = 'label' AND value IS NOT NULL)
    FROM annotations WHERE run_id IN (SELECT unnest(?)) GROUP BY run_id
"""


def annotation_terms(
    cursor: duckdb.DuckDBPyConnection, run_ids: Sequence[str]
) -> dict[str, list[str]]:
    """The ``annotation`` terms of each annotated run among ``run_ids``."""
    if not run_ids:
        return {}
    terms: dict[str, list[str]] = {}
    for run_id, verdict, labels in cursor.execute(_ANNOTATIONS_OF, [list(run_ids)]).fetchall():
        found = ["any"]
        if verdict is not None:
            found.append(annotation_term(str(verdict)))
        found += [f"label:{label}" for label in labels or ()]
        terms[str(run_id)] = found
    return terms


def run_document(
    tantivy: Any,
    row: Sequence[Any],
    steps: tuple[str | None, bool | None] | None,
    marks: Sequence[str] = (),
) -> Any:
    """The document of one run from its ``RUN_FIELDS`` row, ``STEP_TEXT`` figures and
    :func:`annotation_terms`."""
    run_id, started_us, status, source, agent, used, requested, tools, task, answer = row[:10]
    error = row[11]
    step_text, step_failed = steps or (None, None)
    document = tantivy.Document(id=run_id, started_us=int(started_us or 0))
    if status in ("failed", "lost") or error is not None or step_failed:
        document.add_text("flag", "error")
    for name, value in (("status", status), ("source", source), ("agent_name", agent)):
        if value:
            document.add_text(name, value)
    for model in {used, requested} - {None, ""}:
        document.add_text("model", model)
    for tool in tools or ():
        document.add_text("tool", tool)
    for mark in marks:
        document.add_text("annotation", mark)
    document.add_text("text", " ".join(part for part in (task, answer, step_text) if part))
    # Two values, not one joined text: no trigram spans the end of one and the start of the other.
    for part in (task, answer):
        if part:
            document.add_text("sub", part)
    return document


# The bulk build reads steps a chunk of runs at a time, by start time on both sides:
# from an hour before the first run's start to an hour after the last change of any
# (a step arrives before its run's updated_at); steps with no start time once, first.
# No filter by run id: a join with the chunk's ids cost seconds; the few steps of
# neighbouring chunks' runs are read twice instead.
_BULK_STEP_TEXT = """
    SELECT agent_run_id,
           string_agg(concat_ws(' ', tool_args, tool_result, thinking, error), ' '),
           bool_or(status = 'error')
    FROM agent_steps
    WHERE started_at >= ? - INTERVAL 1 HOUR AND started_at <= ? + INTERVAL 1 HOUR
      AND agent_run_id IS NOT NULL
    GROUP BY agent_run_id
"""
_UNDATED_STEP_TEXT = """
    SELECT agent_run_id,
           string_agg(concat_ws(' ', tool_args, tool_result, thinking, error), ' '),
           bool_or(status = 'error')
    FROM agent_steps WHERE started_at IS NULL AND agent_run_id IS NOT NULL
    GROUP BY agent_run_id
"""


def _merge(
    first: tuple[str | None, bool | None] | None, second: tuple[str | None, bool | None] | None
) -> tuple[str | None, bool | None] | None:
    if first is None or second is None:
        return first or second
    text = " ".join(part for part in (first[0], second[0]) if part)
    return text, bool(first[1]) or bool(second[1])


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _chunks(con: duckdb.DuckDBPyConnection, runs_per_chunk: int) -> Iterable[list[Any]]:
    """Runs in start order, a chunk at a time (row groups are read once each)."""
    bounds = con.execute(
        "SELECT min(started_at), max(started_at), count(*) FROM agent_runs"
    ).fetchone()
    if not bounds or not bounds[2]:
        return
    low, high, count = bounds
    undated = con.execute(
        f"SELECT {RUN_FIELDS} FROM agent_runs WHERE started_at IS NULL"
    ).fetchall()
    if undated:
        yield undated
    if low is None:
        return
    slices = max(1, int(count) // runs_per_chunk)
    step = max((high - low) / slices, timedelta(microseconds=1))
    start = low
    while start <= high:
        end = start + step
        yield con.execute(
            f"SELECT {RUN_FIELDS} FROM agent_runs WHERE started_at >= ? AND started_at < ?",
            [start, end],
        ).fetchall()
        start = end


def build_index(
    con: duckdb.DuckDBPyConnection,
    directory: Path,
    *,
    runs_per_chunk: int = 20_000,
    threads: int = 2,
    heap_bytes: int = 400_000_000,
    progress: bool = False,
) -> tuple[int, datetime, str]:
    """Index every run of ``con``'s database into the empty ``directory``, in one snapshot.

    Returns (runs indexed, watermark updated_at, watermark id): the follower
    (collector.search_index) goes on from that watermark.
    """
    import tantivy

    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        raise FileExistsError(f"{directory} is not empty")
    schema = build_schema(tantivy)
    index = tantivy.Index(schema, path=str(directory))
    register_tokenizers(tantivy, index)
    writer = index.writer(heap_size=heap_bytes, num_threads=threads)
    mark: tuple[datetime, str] = (EPOCH, "")
    indexed = 0
    began = time.monotonic()
    con.execute("BEGIN TRANSACTION READ ONLY")
    try:
        for rows in _chunks(con, runs_per_chunk):
            if not rows:
                continue
            starts = [row[1] for row in rows]
            earliest = EPOCH + timedelta(microseconds=min(starts)) if None not in starts else EPOCH
            steps = {
                run_id: (text, failed)
                for run_id, text, failed in con.execute(
                    STEP_TEXT, [[r[0] for r in rows], earliest]
                ).fetchall()
            }
            marks = annotation_terms(con, [r[0] for r in rows])
            for row in rows:
                document = run_document(tantivy, row, steps.get(row[0]), marks.get(row[0], ()))
                writer.add_document(document)
                mark = max(mark, (row[10], row[0]))
            indexed += len(rows)
            if progress:
                elapsed = time.monotonic() - began
                print(f"  {indexed:>9} runs indexed  {elapsed:7.1f}s", flush=True)
        noted = con.execute(LAST_ANNOTATION).fetchone()
    finally:
        con.execute("ROLLBACK")
    writer.commit()
    writer.wait_merging_threads()
    (directory / "format").write_text(FORMAT)
    (directory / "watermark").write_text(f"{mark[0].isoformat()} {mark[1]}")
    if noted and noted[0] is not None:
        (directory / "annotation_watermark").write_text(f"{noted[0].isoformat()} {noted[1]}")
    return indexed, mark[0], mark[1]
