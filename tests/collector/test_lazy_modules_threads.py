"""Lazily loaded modules read first by several threads at once all load whole.

The writer's first ingest reads ``pyarrow`` while an API thread's first ``/sql`` copy or
export may read ``pyarrow.compute``, ``pyarrow.ipc`` or ``pyarrow.parquet``
(collector/lazy_modules.py). Each example runs in a fresh interpreter, where none of them
is loaded yet.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Every lazy module's first attribute read, each in its own thread, released together.
FIRST_READS = """
import threading
from collector.lazy_modules import pyarrow, pyarrow_compute, pyarrow_ipc, pyarrow_parquet

reads = [
    lambda: pyarrow.table,
    lambda: pyarrow_ipc.new_stream,
    lambda: pyarrow_compute.field,
    lambda: pyarrow_parquet.write_table,
]
start = threading.Barrier(len(reads))
errors = []

def first_read(read):
    start.wait()
    try:
        read()
    except BaseException as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=first_read, args=(read,)) for read in reads]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("\\n".join(errors) or "all loaded")
"""


@pytest.mark.parametrize("attempt", range(3))
def test_lazy_modules_read_first_in_several_threads_load_whole(attempt: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FIRST_READS],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "all loaded"
