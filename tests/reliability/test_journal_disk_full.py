"""The disk fills while the request journal rotates its segments: what was synced is read
back, and the journal works again once there is room.

Segments are sealed every 64 KiB here (32 MB in the collector) so a 1 MiB tmpfs
fills across many rotations: a new segment that cannot be created, a write cut
short, a sync that fails.
"""

from __future__ import annotations

import json
from pathlib import Path

from collector.journal import Journal, JournalError, JournalTicket, read_entries
from tests.reliability.disk_faults import small_tmpfs


def _payload(number: int) -> bytes:
    return json.dumps({"entry": number, "filler": "x" * 7000}).encode()


def test_the_disk_filling_across_rotations_loses_no_synced_entry(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "mnt", 1) as mnt:
        journal = Journal(mnt / "j", segment_bytes=64 * 1024)
        synced: dict[int, JournalTicket] = {}
        released: set[int] = set()
        failures = 0
        number = 0
        while failures < 20:
            number += 1
            try:
                ticket = journal.append(_payload(number))
                journal.sync(ticket)
            except JournalError:
                failures += 1
                continue
            synced[number] = ticket
            if number % 3 == 0:
                # The writer commits some requests: entries freed, sealed segments removed.
                journal.release([synced[number]])
                released.add(number)
        assert len(synced) > 20, "the file system filled before the test could start"
        on_disk = {json.loads(p)["entry"] for _, p in read_entries(mnt / "j")}
        assert set(synced) - released <= on_disk
        # Room again: the writer commits everything still held; the journal takes new entries.
        journal.release([t for n, t in synced.items() if n not in released])
        for extra in range(number + 1, number + 6):
            ticket = journal.append(_payload(extra))
            journal.sync(ticket)
            synced[extra] = ticket
        on_disk = {json.loads(p)["entry"] for _, p in read_entries(mnt / "j")}
        assert set(range(number + 1, number + 6)) <= on_disk
        journal.close()
