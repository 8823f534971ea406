"""The dashboard's shared API reads: one request in flight per key, TTL, stale answers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from dashboard.reads import Reads


class CountingFetch:
    """A fetch that counts its calls and can be held until released."""

    def __init__(self, held: bool = False) -> None:
        self.calls = 0
        self.release = threading.Event()
        self.entered = threading.Event()
        if not held:
            self.release.set()

    def __call__(self) -> int:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(10), "never released"
        return self.calls


def test_concurrent_askers_share_one_request_and_reuse_it_within_the_ttl() -> None:
    reads, fetch = Reads(workers=4), CountingFetch(held=True)
    with ThreadPoolExecutor(4) as pool:
        answers = [pool.submit(reads.get, "k", fetch, 60.0) for _ in range(4)]
        assert fetch.entered.wait(10)
        fetch.release.set()
        assert [a.result(10) for a in answers] == [1, 1, 1, 1]
    assert reads.get("k", fetch, 60.0) == 1
    assert fetch.calls == 1


def test_an_expired_answer_is_read_again_and_forget_all_drops_everything() -> None:
    reads, fetch = Reads(), CountingFetch()
    assert reads.get("k", fetch, 0.0) == 1
    assert reads.get("k", fetch, 0.0) == 2  # TTL 0: never reused
    assert reads.get("j", fetch, 60.0) == 3
    reads.forget_all()
    assert reads.get("j", fetch, 60.0) == 4


def test_the_ttl_can_depend_on_the_answer() -> None:
    reads = Reads()
    status = {"value": "running"}
    calls: list[str] = []

    def fetch() -> dict[str, str]:
        calls.append(status["value"])
        return dict(status)

    def ttl(record: dict[str, str]) -> float:
        return 0.0 if record["value"] == "running" else 60.0

    reads.get("run", fetch, ttl)
    status["value"] = "completed"
    assert reads.get("run", fetch, ttl) == {"value": "completed"}  # running: not reused
    assert reads.get("run", fetch, ttl) == {"value": "completed"}
    assert calls == ["running", "completed"]


def test_a_stale_answer_is_served_while_a_fresh_one_is_read() -> None:
    reads, first = Reads(), CountingFetch()
    assert reads.get("k", first, 0.0, stale_ok_s=60.0) == 1
    slow = CountingFetch(held=True)
    assert reads.get("k", slow, 60.0, stale_ok_s=60.0) == 1  # the old answer, at once
    assert slow.entered.wait(10)  # ... while the new one is being read
    slow.release.set()
    assert reads.get("k", slow, 60.0, stale_ok_s=60.0) == 1  # slow's first answer
    assert slow.calls == 1


def test_errors_propagate_and_are_not_reused() -> None:
    reads = Reads()
    attempts: list[int] = []

    def failing() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("collector down")
        return 7

    with pytest.raises(RuntimeError, match="collector down"):
        reads.get("k", failing, 60.0)
    assert reads.get("k", failing, 60.0) == 7
    assert len(attempts) == 2


def test_prefetch_starts_the_read_without_waiting() -> None:
    reads, fetch = Reads(), CountingFetch(held=True)
    reads.prefetch("k", fetch, 60.0)
    assert fetch.entered.wait(10)  # running in the background, the caller went on
    fetch.release.set()
    assert reads.get("k", fetch, 60.0) == 1
    assert fetch.calls == 1
