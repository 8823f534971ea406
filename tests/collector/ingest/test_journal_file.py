"""The request journal's file format and life cycle, on real files."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from collector.decode import SpanRecord
from collector.journal import Journal, read_entries
from collector.journal_codec import decode_spans, encode_spans
from collector.journal_replay import replay_journal
from collector.store import RunStore
from tests.support import wait_until


def _span(n: int, **attributes: object) -> SpanRecord:
    return SpanRecord(
        trace_id=f"{n:032x}",
        span_id=f"{n:016x}",
        parent_span_id=None,
        name=f"span {n}",
        kind=1,
        start_ns=1_700_000_000_000_000_000 + n,
        end_ns=1_700_000_000_000_000_100 + n,
        status_code=0,
        status_message="",
        attributes=dict(attributes),
        events=[{"name": "e", "time_ns": 5, "attributes": {"k": [1, 2.5, None, True]}}],
        resource={"service.name": "svc"},
        scope_name="scope",
    )


def test_spans_round_trip_exactly_including_huge_integers() -> None:
    spans = [_span(1, text="ünïcode\x00", big=2**70, f=0.1, nested={"a": [{"b": 1}]}), _span(2)]
    assert decode_spans(encode_spans(spans)) == spans


def test_a_torn_tail_ends_replay_after_the_intact_entries(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j")
    for n in range(3):
        journal.sync(journal.append(encode_spans([_span(n + 1)])))
    end = journal.size_bytes
    journal.close()
    (segment,) = (tmp_path / "j").glob("*.log")
    whole = segment.read_bytes()
    # A crash in the middle of a fourth entry, over the zero-filled room.
    segment.write_bytes(whole[:end] + whole[:40] + whole[end + 40 :])
    entries = [decode_spans(payload) for _, payload in read_entries(tmp_path / "j")]
    assert [spans[0].span_id for spans in entries] == [f"{n:016x}" for n in (1, 2, 3)]


def test_entries_are_freed_only_once_committed(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j", segment_bytes=600, empty_at_bytes=1)
    tickets = [journal.append(encode_spans([_span(n + 1, pad="x" * 200)])) for n in range(6)]
    for ticket in tickets:
        journal.sync(ticket)
    segments = sorted((tmp_path / "j").glob("*.log"))
    assert len(segments) >= 3  # sealed at 600 bytes
    journal.release(tickets[:1])
    assert segments[0].exists()  # its second entry is not committed yet
    journal.release(tickets[1:-1])
    assert not segments[0].exists()
    # Left: the segment still holding the uncommitted last entry, kept whole (its
    # committed neighbour would be applied again after a crash, which is harmless).
    left = [decode_spans(p)[0].span_id for _, p in read_entries(tmp_path / "j")]
    assert left[-1] == f"{6:016x}" and len(left) <= 2
    journal.release(tickets[-1:])
    assert list(read_entries(tmp_path / "j")) == []
    journal.close()
    assert list((tmp_path / "j").glob("*.log")) == []


def test_concurrent_appenders_share_syncs_and_every_entry_is_read_back(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j", segment_bytes=4000)
    errors: list[BaseException] = []

    def append_many(base: int) -> None:
        try:
            for n in range(50):
                journal.sync(journal.append(encode_spans([_span(base + n, pad="y" * 50)])))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=append_many, args=(1000 * i,)) for i in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ids = sorted(decode_spans(p)[0].span_id for _, p in read_entries(tmp_path / "j"))
    assert ids == sorted(f"{1000 * i + n:016x}" for i in range(1, 5) for n in range(50))


def test_replay_applies_every_entry_then_removes_the_segments(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j")
    for n in range(5):
        journal.sync(journal.append(encode_spans([_span(n + 1)])))
    # Stopped without releasing: as after a kill.
    applied: list[list[SpanRecord]] = []
    replayed = replay_journal(tmp_path / "j", lambda spans: applied.append(spans), batch_spans=2)
    assert replayed == 5
    assert [len(batch) for batch in applied] == [2, 2, 1]
    assert list((tmp_path / "j").glob("*.log")) == []


def test_a_store_applies_a_journal_left_by_a_previous_life(tmp_path: Path) -> None:
    db = tmp_path / "left.duckdb"
    RunStore(db).close()  # a file, a key and a head, as a collector leaves them
    journal = Journal(Path(str(db) + ".journal"))
    journal.sync(journal.append(encode_spans([_span(41), _span(42)])))
    journal.sync(journal.append(encode_spans([_span(42), _span(43)])))  # 42 twice
    store = RunStore(db)
    try:
        rows = store.read(lambda cur: cur.execute("SELECT span_id FROM spans").fetchall())
        assert sorted(r[0] for r in rows) == [f"{n:016x}" for n in (41, 42, 43)]
    finally:
        store.close()
    assert list(Path(str(db) + ".journal").glob("*.log")) == []


def test_entries_are_written_over_zeros_and_replay_ends_quietly_at_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # An entry written over zeros changes no file metadata, so its fdatasync writes
    # its own pages only (no file-system journal commit behind DuckDB's writes).
    journal = Journal(tmp_path / "j", fill_bytes=64 * 1024)
    (segment,) = (tmp_path / "j").glob("*.log")
    assert segment.stat().st_size == 64 * 1024  # room made before the first entry
    tickets = [journal.append(encode_spans([_span(n + 1, pad="z" * 3000)])) for n in range(30)]
    for ticket in tickets:
        journal.sync(ticket)
    used = journal.size_bytes
    assert used > 64 * 1024  # the entries passed the first room: more was made
    assert segment.stat().st_size >= used
    assert segment.read_bytes()[used:].count(0) == segment.stat().st_size - used
    with caplog.at_level(logging.WARNING, logger="collector.journal"):
        ids = [decode_spans(p)[0].span_id for _, p in read_entries(tmp_path / "j")]
    assert ids == [f"{n + 1:016x}" for n in range(30)]
    assert caplog.records == []  # zeros are the end, not an unfinished entry


def test_committed_entries_stay_until_the_segment_holds_enough_to_empty(tmp_path: Path) -> None:
    # Emptying the open segment means zero-filling it again, so it waits until the
    # segment holds empty_at_bytes; replaying committed entries after a crash is harmless.
    journal = Journal(tmp_path / "j", fill_bytes=8192, empty_at_bytes=4000)
    first = [journal.append(encode_spans([_span(n + 1, pad="p" * 500)])) for n in range(3)]
    for ticket in first:
        journal.sync(ticket)
    journal.release(first)
    assert len(list(read_entries(tmp_path / "j"))) == 3  # under 4,000 bytes: kept
    more = [journal.append(encode_spans([_span(n + 10, pad="p" * 500)])) for n in range(5)]
    for ticket in more:
        journal.sync(ticket)
    journal.release(more)
    assert list(read_entries(tmp_path / "j")) == []  # past it: emptied
    assert journal.size_bytes == 0
    (segment,) = (tmp_path / "j").glob("*.log")
    # Room made again for what comes next, by the journal's own thread.
    wait_until(lambda: segment.stat().st_size >= 8192 // 2, what="room made again")
    after = journal.append(encode_spans([_span(99)]))
    journal.sync(after)
    assert [decode_spans(p)[0].span_id for _, p in read_entries(tmp_path / "j")] == [f"{99:016x}"]
    journal.close()
