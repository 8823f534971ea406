"""``q`` of plain words through the live search index: step text, freshness, paging, filters."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.collector.api.conftest import Agents, RunSpec, ToolCall, traced_agents
from tests.conftest import start_test_collector
from tests.support import wait_until


def ids_of(body: dict[str, Any]) -> set[str]:
    return {r["id"] for r in body["runs"]}


def test_words_in_a_step_result_or_arguments_find_the_run(agents: Agents) -> None:
    wanted, other = agents.send(
        [
            RunSpec(
                "why is web slow",
                tools=(
                    ToolCall("docker_logs", {"container": "zebrafinch"}, "upstream quokka gone"),
                ),
            ),
            RunSpec("unrelated", tools=(ToolCall("docker_ps", {}, "all quiet"),)),
        ]
    )
    # Only the index sees step text: a scan covers task and final answer alone.
    assert ids_of(agents.get("/agent/runs", q="QUOKKA")) == {wanted}
    assert ids_of(agents.get("/agent/runs", q="zebrafinch")) == {wanted}
    assert ids_of(agents.get("/agent/runs", q="quokka upstream")) == {wanted}  # any order
    assert agents.get("/agent/runs", q="quokka unrelated")["total"] == 0  # every word
    assert ids_of(agents.get("/agent/runs", q="quiet")) == {other}


def test_a_run_is_searchable_as_soon_as_it_is_listed(agents: Agents) -> None:
    for index in range(3):
        run_id = agents.send([RunSpec(f"fresh wombat{index}")])[0]
        # No waiting: the query itself waits until the index holds its snapshot.
        assert ids_of(agents.get("/agent/runs", q=f"wombat{index}")) == {run_id}


def test_pages_of_a_search_cover_every_match_once_with_the_total(agents: Agents) -> None:
    sent = set(agents.send([RunSpec(f"capybara report {i}") for i in range(7)]))
    agents.send([RunSpec("no match here")])
    seen: list[str] = []
    body = agents.get("/agent/runs", q="capybara", limit=3)
    while True:
        assert body["total"] == 7
        seen += [r["id"] for r in body["runs"]]
        if not body["next"]:
            break
        body = agents.get("/agent/runs", q="capybara", limit=3, cursor=body["next"])
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == sent
    everything = [r["id"] for r in agents.get("/agent/runs", q="capybara", limit=7)["runs"]]
    second = agents.get("/agent/runs", q="capybara", limit=2, offset=2)
    assert [r["id"] for r in second["runs"]] == everything[2:4]


def test_search_combines_with_the_other_filters(agents: Agents) -> None:
    failed, done, other_source = agents.send(
        [
            RunSpec("pangolin check", status="failed", tools=(ToolCall("df"),)),
            RunSpec("pangolin check", tools=(ToolCall("docker_ps"),)),
            RunSpec("pangolin check", source="n8n", agent_name="nightly"),
        ]
    )
    assert ids_of(agents.get("/agent/runs", q="pangolin", status="failed")) == {failed}
    assert ids_of(agents.get("/agent/runs", q="pangolin", tool="docker_ps")) == {done}
    assert ids_of(agents.get("/agent/runs", q="pangolin", source="n8n")) == {other_source}
    assert ids_of(agents.get("/agent/runs", q="pangolin", agent_name="nightly")) == {other_source}
    assert agents.get("/agent/runs", q="pangolin", source="cron")["total"] == 0


def test_the_index_is_rebuilt_from_the_database_when_deleted(tmp_path: Path) -> None:
    db = tmp_path / "audit.duckdb"
    handle = start_test_collector(db)
    try:
        with traced_agents(handle) as agents:
            tools = (ToolCall("docker_ps", {}, "axolotl tank ok"),)
            run_id = agents.send([RunSpec("inventory", tools=tools)])[0]
    finally:
        handle.stop()
    index_dir = tmp_path / "audit.duckdb.search"
    assert index_dir.is_dir()
    shutil.rmtree(index_dir)
    handle = start_test_collector(db)
    try:
        with traced_agents(handle) as agents:
            # Words of a step result: only the rebuilt index can find them.
            wait_until(
                lambda: ids_of(agents.get("/agent/runs", q="axolotl")) == {run_id},
                timeout_s=30,
                what="the rebuilt index to find the run",
            )
    finally:
        handle.stop()


def test_stats_count_the_same_runs_as_the_list(agents: Agents) -> None:
    agents.send(
        [
            RunSpec("first", tools=(ToolCall("docker_logs", {}, "okapi sighted"),)),
            RunSpec("okapi second", status="failed"),
            RunSpec("neither"),
        ]
    )
    listed = agents.get("/agent/runs", q="okapi")
    stats = agents.get("/agent/runs/stats", q="okapi")
    assert listed["total"] == stats["total_runs"] == 2
    assert stats["by_status"] == {"completed": 1, "failed": 1}


def test_a_q_that_is_not_plain_words_is_a_substring_of_task_or_answer(agents: Agents) -> None:
    longer, exact, split, in_step = agents.send(
        [
            RunSpec("prune images", final_answer="freed bytes=1234567 in all"),
            RunSpec("Rotate logs BYTES=123456"),
            RunSpec("bytes= 123456 and bytes=12 3456"),  # every trigram but one, not the text
            RunSpec("quiet", tools=(ToolCall("df", {}, "bytes=123456"),)),  # step text only
        ]
    )
    # Substring, any case: the index narrows by trigrams, SQL keeps the meaning
    # (``split`` holds every trigram of q, but not q).
    assert split not in ids_of(agents.get("/agent/runs", q="bytes=123456"))
    assert ids_of(agents.get("/agent/runs", q="bytes=123456")) == {longer, exact}
    assert agents.get("/agent/runs", q="bytes=123456")["total"] == 2
    assert ids_of(agents.get("/agent/runs", q="s=1234567 i")) == {longer}
    assert agents.get("/agent/runs/stats", q="bytes=123456")["total_runs"] == 2
    assert agents.get("/agent/runs", q="bytes=123456", status="failed")["total"] == 0
    assert in_step not in ids_of(agents.get("/agent/runs", q="=123456"))


def test_a_run_id_prefix_with_its_dashes_finds_the_run(agents: Agents) -> None:
    run_id = agents.send([RunSpec("anything at all")])[0]
    for prefix in (run_id[:13], run_id[:9], run_id.upper()[:13], run_id):
        body = agents.get("/agent/runs", q=prefix)
        assert ids_of(body) == {run_id}, prefix
        assert body["total"] == 1


def test_words_combine_with_has_error_and_annotations(agents: Agents) -> None:
    clean, recovered, failed = agents.send(
        [
            RunSpec("tapir inventory", tools=(ToolCall("ls"),)),
            RunSpec("tapir cleanup", tools=(ToolCall("rm", error="denied"), ToolCall("ls"))),
            RunSpec("tapir rescue", status="failed", error="gave up"),
        ]
    )
    assert ids_of(agents.get("/agent/runs", q="tapir", has_error="true")) == {recovered, failed}
    assert agents.get("/agent/runs/stats", q="tapir", has_error="true")["total_runs"] == 2
    for kind in ("bad", "good"):  # the latest verdict counts
        posted = agents.api.post(
            f"/agent/runs/{clean}/annotations", json={"kind": kind, "author": "ana"}
        )
        assert posted.status_code == 201, posted.text
    assert ids_of(agents.get("/agent/runs", q="tapir", annotation="good")) == {clean}
    assert agents.get("/agent/runs", q="tapir", annotation="bad")["total"] == 0
