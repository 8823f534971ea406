"""Every page under Streamlit's AppTest, against a real collector fed by the instrumentation."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from collector.server import start_collector
from collector.settings import Settings
from tests.conftest import start_test_collector
from tests.dashboard.agents import HOSTILE_RESULT
from tests.dashboard.conftest import AppFactory, Seeded
from tests.support import free_port


def open_page(at: AppTest, page: str, **query: str) -> AppTest:
    """Run the app once, then switch to ``page`` with ``?key=value`` and run it."""
    at.run()
    at.switch_page(page)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def runs_table(at: AppTest) -> pd.DataFrame:
    assert not at.exception, at.exception
    assert len(at.dataframe) >= 1, "no runs table on the page"
    return at.dataframe[0].value


def statuses(at: AppTest) -> dict[str, str]:
    frame = runs_table(at)
    return dict(zip(frame["Run id"], frame["Status"], strict=True))


def page_text(at: AppTest) -> str:
    """All text the page shows, in order (labels, Markdown source, code, plain text)."""
    parts: list[str] = []
    for kind in (
        "title",
        "subheader",
        "markdown",
        "caption",
        "text",
        "code",
        "error",
        "info",
        "warning",
        "success",
    ):
        parts += [str(element.value) for element in getattr(at, kind)]
    parts += [str(e.label) for e in at.expander]
    parts += [str(link.proto.label) for link in at.page_link]
    parts += [f"{m.label}={m.value}" for m in at.metric]
    return "\n".join(parts)


def unescaped(markdown: str) -> str:
    """Markdown source as the reader sees it: escapes and zero-width spaces removed."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u200b", "")


# --- runs page ----------------------------------------------------------------------


def test_runs_page_lists_runs_with_status_badges(seeded: Seeded, app: AppFactory) -> None:
    at = app(seeded.api_url).run()
    shown = statuses(at)
    assert shown[seeded.runs.completed] == "✓ completed"
    assert shown[seeded.runs.failed] == "✗ failed"
    assert shown[seeded.runs.max_steps] == "⚠ max_steps"
    assert shown[seeded.runs.cancelled] == "⊘ cancelled"
    assert shown[seeded.live_id] == "⟳ running"
    frame = runs_table(at).set_index("Run id")
    assert frame.loc[seeded.runs.completed, "Task"] == "Analyze container crash"
    assert frame.loc[seeded.runs.completed, "Steps"] == 3
    assert frame.loc[seeded.runs.failed, "Steps"] == 2
    assert frame.loc[seeded.runs.completed, "Source"] == "n8n"
    assert frame.loc[seeded.runs.completed, "Model"] == "qwen2.5-coder"
    # newest first: the live agent started after every sample run
    assert list(frame.index)[0] == seeded.live_id
    assert "Runs 1–6 of 6" in page_text(at)


def test_filters_change_the_rows(seeded: Seeded, app: AppFactory) -> None:
    runs = seeded.runs
    at = app(seeded.api_url).run()
    at.multiselect(key="status").set_value(["failed", "max_steps"]).run()
    assert set(statuses(at)) == {runs.failed, runs.max_steps}

    at.multiselect(key="status").set_value([]).run()
    at.selectbox(key="source").set_value("n8n").run()
    assert set(statuses(at)) == {runs.completed, runs.max_steps}

    at.selectbox(key="source").set_value(None).run()
    at.selectbox(key="model").set_value("llama3").run()
    assert set(statuses(at)) == {runs.failed, runs.max_steps}

    at.selectbox(key="model").set_value(None).run()
    at.text_input(key="q").set_value("homepage").run()
    # The failed run names it in its task, the completed one in a step's arguments and result.
    assert set(statuses(at)) == {runs.failed, runs.completed}

    at.text_input(key="q").set_value("").run()
    a_year_ago = date.today() - timedelta(days=365)
    at.date_input(key="started").set_value((a_year_ago, a_year_ago + timedelta(days=1))).run()
    assert not at.dataframe
    assert "No runs match these filters." in page_text(at)


def test_selecting_a_row_opens_the_run(seeded: Seeded, app: AppFactory) -> None:
    at = app(seeded.api_url).run()
    row = list(runs_table(at)["Run id"]).index(seeded.runs.failed)
    at.session_state["runs_table"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    assert at.query_params["run"] == [seeded.runs.failed] or at.query_params["run"] == (
        seeded.runs.failed
    )
    assert [s.value for s in at.subheader] == ["Restart homepage"]


def test_empty_collector_shows_how_to_send_the_first_run(tmp_path: Path, app: AppFactory) -> None:
    empty = start_test_collector(tmp_path / "empty.duckdb")
    try:
        at = app(empty.api_url).run()
        assert not at.exception, at.exception
        text = page_text(at)
        assert "No agent runs recorded yet" in text
        assert "agent-audit demo" in text
        snippet = next(c.value for c in at.code if "agent_run" in c.value)
        assert f'configure(endpoint="{empty.api_url}", protocol="http")' in snippet
        assert not at.dataframe
    finally:
        empty.stop()


def test_unreachable_collector_shows_a_banner_and_recovers(tmp_path: Path, app: AppFactory) -> None:
    port = free_port()
    at = app(f"http://127.0.0.1:{port}").run()
    assert not at.exception, at.exception
    banner = " ".join(e.value for e in at.error)
    assert "Collector unreachable" in banner and f"127.0.0.1:{port}" in banner
    assert not at.dataframe

    # The collector comes back on the same port: the next refresh shows the page again.
    running = start_collector(
        Settings(db_path=tmp_path / "back.duckdb", grpc_port=0, http_port=port)
    )
    try:
        at.run()
        assert not at.error
        assert "No agent runs recorded yet" in page_text(at)
    finally:
        running.stop()


def test_token_is_sent_and_a_missing_one_is_explained(tmp_path: Path, app: AppFactory) -> None:
    guarded = start_test_collector(tmp_path / "token.duckdb", token="s3cret-token-of-24-chars")
    try:
        without = app(guarded.api_url).run()
        assert "refused the dashboard's token" in " ".join(e.value for e in without.error)
        with_token = app(guarded.api_url, token="s3cret-token-of-24-chars").run()
        assert not with_token.error
        assert "No agent runs recorded yet" in page_text(with_token)
    finally:
        guarded.stop()


# --- run page -----------------------------------------------------------------------


def test_run_page_shows_header_steps_in_order_and_final_answer(
    seeded: Seeded, app: AppFactory
) -> None:
    at = open_page(app(seeded.api_url), "screens/run.py", run=seeded.runs.completed)
    assert not at.exception, at.exception
    assert [s.value for s in at.subheader] == ["Analyze container crash"]
    labels = [e.label for e in at.expander if e.label.startswith("Step")]
    assert len(labels) == 3
    assert labels[0].startswith("Step 1 ✓ think")
    assert unescaped(labels[1]).startswith("Step 2 ✓ tool_call search_skills · ")
    assert unescaped(labels[2]).startswith("Step 3 ✓ tool_call run_on_server · ")
    text = unescaped(page_text(at))
    for expected in (
        "**Model used** · qwen2.5-coder",
        "**Backend** · 3090",
        "**Source** · n8n",
        "**Triggered by** · webhook",
        "**Provider** · ollama",
        "Steps=3",
        "Failed steps=0",
        "Tokens in / out=800 / 60",
    ):
        assert expected in text, expected
    assert "Container crashed due to OOM. Recommend a 2 GB limit." in [t.value for t in at.text]
    assert '"q": "docker container"' in text  # arguments, as JSON
    assert "Found 3 matching skills" in text
    assert "Look for matching skills first." in text  # thinking


def test_a_run_longer_than_its_page_shows_the_first_steps_and_says_so(
    seeded: Seeded, app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collector import queries
    from dashboard.views import api_reads

    monkeypatch.setattr(queries, "RUN_PAGE_STEPS", 2)
    api_reads.forget_all()  # another test may have read this run's full page
    try:
        at = open_page(app(seeded.api_url), "screens/run.py", run=seeded.runs.completed)
    finally:
        api_reads.forget_all()
    assert not at.exception, at.exception
    labels = [e.label for e in at.expander if e.label.startswith("Step")]
    assert len(labels) == 2 and labels[0].startswith("Step 1 ")
    text = unescaped(page_text(at))
    assert "Steps=3" in text  # the run's count, not the page's
    assert "This run has 3 steps; the page shows the first 2." in text
    assert "after_step=2" in text


def test_long_results_are_folded_with_the_full_text_on_demand(
    seeded: Seeded, app: AppFactory
) -> None:
    at = open_page(app(seeded.api_url), "screens/run.py", run=seeded.runs.completed)
    toggle = next(t for t in at.toggle if t.label.startswith("Show the full result"))
    assert "300 lines" in toggle.label
    assert "log line 0000" in page_text(at) and "log line 0299" not in page_text(at)
    toggle.set_value(True).run()
    assert "log line 0299" in page_text(at)


def test_failed_run_page_names_the_failed_step_and_why(seeded: Seeded, app: AppFactory) -> None:
    at = open_page(app(seeded.api_url), "screens/run.py", run=seeded.runs.failed)
    errors = [e.value for e in at.error]
    assert "Failed at step 2: docker_restart" in unescaped(" ".join(errors)), errors
    assert any("permission denied: docker.sock" in c.value for c in at.code)
    failed = [e for e in at.expander if "Step 2" in e.label]
    assert failed and "failed" in failed[0].label
    assert not [b for b in at.button if b.key == "cancel_run"]  # finished: nothing to cancel


def test_stored_markup_is_shown_as_text(seeded: Seeded, app: AppFactory) -> None:
    at = open_page(app(seeded.api_url), "screens/run.py", run=seeded.runs.hostile)
    assert not at.exception, at.exception
    visible = HOSTILE_RESULT.replace("\x1b", "\\x1b")
    assert visible in [t.value for t in at.text]  # the final answer, verbatim
    assert any(visible in c.value for c in at.code)  # the tool result, verbatim
    for element in at.markdown:
        assert not element.proto.allow_html
        assert "<img" not in element.value and "](http" not in element.value
    heading = at.subheader[0].value
    assert "\\<img" in heading and "\\*\\*bold\\*\\*" in heading and ":\u200bred" in heading


def test_unknown_run_id_says_so(seeded: Seeded, app: AppFactory) -> None:
    at = open_page(app(seeded.api_url), "screens/run.py", run="../../sql")
    assert not at.exception, at.exception
    assert any("No run with id" in w.value for w in at.warning)


def test_running_run_offers_cancel(seeded: Seeded, app: AppFactory) -> None:
    at = open_page(app(seeded.api_url), "screens/run.py", run=seeded.live_id)
    assert [b.label for b in at.button if b.key == "cancel_run"] == ["Cancel run"]
    assert at.metric[0].label == "Duration" and at.metric[0].value not in ("–", "")


# --- live, stats, sql ---------------------------------------------------------------


def test_live_page_shows_the_running_agent_and_finished_runs(
    seeded: Seeded, app: AppFactory
) -> None:
    at = open_page(app(seeded.api_url), "screens/live.py")
    assert not at.exception, at.exception
    text = page_text(at)
    assert "1 running" in text
    assert seeded.live_id in unescaped(text)
    assert "Watch the backup job" in unescaped(text)
    finished = at.dataframe[0].value
    assert set(seeded.runs.all()) <= set(finished["Run id"])
    assert seeded.live_id not in set(finished["Run id"])


def test_stats_page_draws_charts_from_the_stats(seeded: Seeded, app: AppFactory) -> None:
    at = open_page(app(seeded.api_url), "screens/stats.py")
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Runs"] == "6"
    assert metrics["Error rate"] == "20.0%"  # 1 failed of the 5 that ended
    assert metrics["Input tokens"] == "800"
    charts = at.get("vega_lite_chart")
    assert len(charts) == 6  # over time, error rate, durations, tools, sources, models
    tools = at.dataframe[0].value.set_index("Tool")
    assert tools.loc["docker_restart", "Errors"] == 1
    assert tools.loc["df", "Calls"] == 3


def test_sql_page_shows_results_errors_and_a_csv(seeded: Seeded, app: AppFactory) -> None:
    at = open_page(app(seeded.api_url), "screens/sql.py")
    assert not at.exception, at.exception
    at.text_area(key="sql_query").set_value(
        "SELECT status, count(*) AS runs FROM agent_runs GROUP BY status ORDER BY status"
    )
    at.button(key="sql_run").click().run()
    result = at.dataframe[0].value
    assert dict(zip(result["status"], result["runs"], strict=True)) == {
        "cancelled": 1,
        "completed": 2,
        "failed": 1,
        "max_steps": 1,
        "running": 1,
    }
    assert at.get("download_button")

    at.text_area(key="sql_query").set_value("DROP TABLE agent_runs").run()
    at.button(key="sql_run").click().run()
    assert any("refused the query" in e.value for e in at.error)
    assert at.code and at.code[-1].value.strip()  # the collector's reason, shown as text
    assert not at.dataframe

    at.selectbox(key="sql_example").set_value("Failed runs and the step that failed").run()
    at.button(key="sql_run").click().run()
    failed = at.dataframe[0].value
    assert list(failed["tool_name"]) == ["docker_restart"]
    assert "permission denied" in failed["error"][0]
