"""The explorer's pages under AppTest: deep links to a step, status words, compare, filters."""

from __future__ import annotations

import pytest

from tests.dashboard.conftest import AppFactory, Seeded
from tests.dashboard.test_pages import open_page, page_text, runs_table, unescaped


def test_a_step_in_the_url_opens_its_detail(seeded: Seeded, app: AppFactory) -> None:
    at = open_page(app(seeded.api_url), "screens/run.py", run=seeded.runs.completed, step="3")
    assert not at.exception, at.exception
    text = unescaped(page_text(at))
    assert "Step 3 · Tool call · run_on_server" in text
    assert f"run={seeded.runs.completed}&step=3" in text  # the link to this step
    # The detail pane shows the whole result in a scroll box, with a download.
    assert any("log line 0299" in c.value for c in at.code)
    assert any("Download result" in b.label for b in at.get("download_button"))
    # The command it ran on a server, where, allowed, and its exit code.
    assert any(c.value == "docker logs homepage --tail 50" for c in at.code)
    assert "**Command on a server** · agent@nas.lan:22" in text
    assert "why: allowed by policy · exit code 0" in text


def test_a_failed_run_opens_on_the_failed_step(seeded: Seeded, app: AppFactory) -> None:
    at = open_page(app(seeded.api_url), "screens/run.py", run=seeded.runs.failed)
    text = unescaped(page_text(at))
    assert "Step 2 · Tool call · docker_restart" in text
    assert any("Traceback (most recent call last)" in c.value for c in at.code)


def test_max_steps_and_cancelled_are_explained_in_words(seeded: Seeded, app: AppFactory) -> None:
    at = open_page(app(seeded.api_url), "screens/run.py", run=seeded.runs.max_steps)
    assert any("used up its step budget" in i.value for i in at.info)
    at = open_page(app(seeded.api_url), "screens/run.py", run=seeded.runs.cancelled)
    assert any("asked the agent to stop" in i.value for i in at.info)


def test_compare_aligns_the_steps_of_two_runs(seeded: Seeded, app: AppFactory) -> None:
    runs = seeded.runs
    at = open_page(app(seeded.api_url), "screens/compare.py", a=runs.completed, b=runs.failed)
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["A #"].astype(object)) == [1, 2, 3]
    assert list(table["B #"].fillna(0).astype(int)) == [1, 2, 0]
    assert table["Differs"].iloc[2] == "only in A"
    assert "tool" in table["Differs"].iloc[0]
    metrics = {(m.label, m.value) for m in at.metric}
    assert ("Steps", "3") in metrics and ("Steps", "2") in metrics
    assert "What differs (3 of 3 aligned steps)" in page_text(at)


def test_the_list_filters_by_agent_from_the_url(seeded: Seeded, app: AppFactory) -> None:
    at = app(seeded.api_url)
    at.query_params["agent"] = "nobody"
    at.run()
    assert "No runs match these filters." in page_text(at)
    at = app(seeded.api_url)
    at.query_params["agent"] = "ops"
    at.query_params["status"] = "failed"
    at.run()
    frame = runs_table(at)
    assert list(frame["Run id"]) == [seeded.runs.failed]
    assert frame["Tool calls"].iloc[0] == 2 and frame["Agent"].iloc[0] == "ops"
    assert "permission denied" in frame["Error"].iloc[0]
    at = app(seeded.api_url)
    at.query_params["errors"] = "true"
    at.run()
    assert list(runs_table(at)["Run id"]) == [seeded.runs.failed]


def test_compare_says_when_a_run_has_more_steps_than_its_page(
    seeded: Seeded, app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collector import queries
    from dashboard.views import api_reads

    monkeypatch.setattr(queries, "RUN_PAGE_STEPS", 2)
    api_reads.forget_all()  # another test may have read these runs' full pages
    try:
        runs = seeded.runs
        at = open_page(app(seeded.api_url), "screens/compare.py", a=runs.completed, b=runs.failed)
    finally:
        api_reads.forget_all()
    assert not at.exception, at.exception
    assert list(at.dataframe[0].value["A #"].astype(object)) == [1, 2]
    text = page_text(at)
    assert "Run A has 3 steps: only its first 2 (what its run page holds) are aligned." in text
    assert "Run B has" not in text  # two steps: its page holds them all
