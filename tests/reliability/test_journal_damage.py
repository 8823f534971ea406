"""A damaged entry in the middle of a journal segment costs that entry, not the ones after it.

A crash tears only a segment's tail, which was never acknowledged. A flipped bit
or a bad sector can hit any entry: replay used to stop the segment there and
then delete it, losing every acknowledged request after the damage.
"""

from __future__ import annotations

import struct
from pathlib import Path

from bench.reliability.chaos import check_file
from bench.reliability.harness import CollectorProcess, GrpcSender, RunRequest, build_run_request
from collector.journal import journal_dir
from collector.journal_replay import journaled_spans
from tests.reliability.test_journal import _held_collector, _stored_span_keys

_HEADER = struct.Struct("<4sII")  # the journal's entry header: magic, length, crc32


def _entry_offsets(segment: Path) -> list[int]:
    data = segment.read_bytes()
    offsets, offset = [], 0
    while offset + _HEADER.size <= len(data):
        magic, length, _ = _HEADER.unpack_from(data, offset)
        if magic != b"AAJ1":
            break  # the zero-filled room after the entries
        offsets.append(offset)
        offset += _HEADER.size + length
    return offsets


def test_a_damaged_entry_mid_segment_keeps_the_entries_after_it(tmp_path: Path) -> None:
    db = tmp_path / "damaged.duckdb"
    held = _held_collector(db, tmp_path / "logs")
    requests: list[RunRequest] = []
    try:
        sender = GrpcSender(held.grpc_target)
        try:
            for seq in range(1, 13):
                request = build_run_request(9, seq, 3, payload_bytes=300)
                assert sender.send(request.protobuf()).acked
                requests.append(request)
        finally:
            sender.close()
    finally:
        held.kill()  # SIGKILL: every request only in the journal
    (segment,) = [p for p in journal_dir(db).glob("*.log") if p.stat().st_size]
    offsets = _entry_offsets(segment)
    assert len(offsets) == len(requests)
    # One flipped byte inside the fifth entry's payload: its CRC no longer checks out.
    data = bytearray(segment.read_bytes())
    data[offsets[4] + _HEADER.size + 40] ^= 0x20
    segment.write_bytes(bytes(data))
    damaged, intact = requests[4], requests[:4] + requests[5:]

    collector = CollectorProcess(db, log_dir=tmp_path / "logs").start()
    try:
        assert collector.terminate() == 0
    finally:
        collector.kill()
    stored = _stored_span_keys(db)
    assert {key for r in intact for key in r.span_keys} <= stored
    assert not set(damaged.span_keys) & stored
    attempted = {r.trace_id: r for r in intact}
    assert check_file(db, attempted, attempted) == []
    # The unreadable entry is kept for a person, named in the log, never silently dropped.
    (kept,) = journal_dir(db).glob("damaged-*.bin")
    assert damaged.run_id.encode() in kept.read_bytes()
    assert str(kept) in collector.stderr_text()
    assert journaled_spans(journal_dir(db)) == []
