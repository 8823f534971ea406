"""A collector on an in-memory store (``:memory:``) writes nothing beside it.

Its chain key and commit mark pin a file across restarts; an in-memory store ends with
its process, so both stay in the process instead of landing as ``:memory:.key`` and
``:memory:.head`` in whatever directory the collector was started from.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import start_test_collector


def test_an_in_memory_collector_leaves_its_working_directory_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    handle = start_test_collector(Path(":memory:"), sql_copy_dir=tmp_path / "sql")
    try:
        export("grpc", handle, record_spans(lambda tracer: tracer.start_span("kept").end()))
        assert handle.query("SELECT name FROM spans") == [("kept",)]
    finally:
        handle.stop()
    assert sorted(p.name for p in workdir.iterdir()) == []


def test_files_left_by_another_program_beside_memory_do_not_stop_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A head naming commits this store never had, and a key of the wrong form: an
    # on-disk store would refuse both; an in-memory one has nothing to check them against.
    monkeypatch.chdir(tmp_path)
    (tmp_path / ":memory:.head").write_text("9 " + "ab" * 32 + "\n")
    (tmp_path / ":memory:.key").write_text("not hex\n")
    handle = start_test_collector(Path(":memory:"), sql_copy_dir=tmp_path / "sql")
    try:
        export("grpc", handle, record_spans(lambda tracer: tracer.start_span("after").end()))
        assert handle.query("SELECT name FROM spans") == [("after",)]
    finally:
        handle.stop()
    assert (tmp_path / ":memory:.head").read_text() == "9 " + "ab" * 32 + "\n"
