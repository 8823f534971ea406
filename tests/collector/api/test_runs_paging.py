"""GET /agent/runs paging: the keyset cursor while runs arrive, offsets, NULL start times."""

from __future__ import annotations

from typing import Any

from tests.collector.api.conftest import Agents, RunSpec


def ids_of(body: dict[str, Any]) -> list[str]:
    return [r["id"] for r in body["runs"]]


def test_paging_never_repeats_or_skips_while_runs_arrive(agents: Agents) -> None:
    first_batch = agents.send([RunSpec(f"batch one #{i}") for i in range(23)])
    seen: list[str] = []
    body = agents.get("/agent/runs", limit=5)
    seen += ids_of(body)
    arrived: list[str] = []
    while body["next"]:
        # New runs land between every two pages: they are newer, so no page shifts.
        arrived += agents.send([RunSpec(f"arrived while paging #{len(arrived)}")])
        body = agents.get("/agent/runs", limit=5, cursor=body["next"])
        assert len(body["runs"]) <= 5
        seen += ids_of(body)
    assert len(seen) == len(set(seen)), "a run came twice"
    assert set(seen) == set(first_batch), "a run is missing or a new one slipped in"
    assert len(arrived) == 4  # pages of 5, 5, 5, 5, 3
    assert agents.get("/agent/runs", limit=1000)["total"] == 27


def test_offset_paging(agents: Agents) -> None:
    agents.send([RunSpec(f"offset #{i}") for i in range(6)])
    everything = ids_of(agents.get("/agent/runs", limit=6))
    assert ids_of(agents.get("/agent/runs", limit=2, offset=2)) == everything[2:4]


def test_runs_without_start_time_page_stably(agents: Agents) -> None:
    agents.send([RunSpec(f"timed #{i}") for i in range(3)])

    def insert_untimed(con: Any) -> None:
        for suffix in ("a", "b", "c", "d"):
            con.execute(
                "INSERT INTO agent_runs (id, task, status, updated_at) "
                "VALUES (?, 'no start time', 'completed', now()::TIMESTAMP)",
                [f"untimed-{suffix}"],
            )

    agents.collector.store.write(insert_untimed)
    pages: list[list[str]] = []
    body = agents.get("/agent/runs", limit=2)
    pages.append(ids_of(body))
    while body["next"]:
        body = agents.get("/agent/runs", limit=2, cursor=body["next"])
        pages.append(ids_of(body))
    flat = [i for page in pages for i in page]
    assert len(flat) == 7 == len(set(flat))
    # NULL start times sort last, by id descending.
    assert flat[-4:] == ["untimed-d", "untimed-c", "untimed-b", "untimed-a"]


def test_limit_caps_the_page(agents: Agents) -> None:
    agents.send([RunSpec(f"cap #{i}") for i in range(4)])
    body = agents.get("/agent/runs", limit=3)
    assert len(body["runs"]) == 3 and body["total"] == 4 and body["next"]
