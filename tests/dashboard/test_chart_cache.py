"""Stats charts are built once per input and reused (dashboard/views/chart_cache.py)."""

from __future__ import annotations

from dashboard import charts
from dashboard.views.chart_cache import chart


def test_the_same_input_reuses_the_chart_and_a_new_input_builds_anew() -> None:
    first = chart("counts_bar", {"n8n": 3, "api": 1}, label="source")
    assert chart("counts_bar", {"n8n": 3, "api": 1}, label="source") is first
    # What it holds is what the builder makes of that input.
    built = charts.counts_bar_chart({"n8n": 3, "api": 1}, label="source")
    assert first.to_dict() == built.to_dict()

    changed = chart("counts_bar", {"n8n": 4, "api": 1}, label="source")
    assert changed is not first
    assert changed.data["runs"].tolist() == [4, 1]  # type: ignore[union-attr]
    relabelled = chart("counts_bar", {"n8n": 3, "api": 1}, label="model")
    assert relabelled is not first and "model" in relabelled.data.columns  # type: ignore[union-attr]


def test_each_builder_is_reachable_by_name() -> None:
    points = [{"bucket": "2026-01-01T00:00:00Z", "status": "failed", "runs": 2}]
    assert chart("runs_over_time", points, "day").mark == "bar"  # type: ignore[comparison-overlap]
    assert chart("error_rate", points, "day").data["error_rate"].tolist() == [1.0]  # type: ignore[union-attr]
    assert len(chart("duration_histogram", [1000.0, 2000.0]).data) == 2  # type: ignore[arg-type]
    tools = [{"tool_name": "df", "calls": 3, "errors": 1}]
    assert chart("top_tools", tools).data["calls"].tolist() == [2, 1]  # type: ignore[union-attr]
    costs = [{"bucket": "2026-01-01T00:00:00Z", "model": None, "cost_usd": 0.5}]
    assert chart("cost_over_time", costs, "day").data["model"].tolist() == ["(none)"]  # type: ignore[union-attr]
    assert chart("cost_by", {"gpt": 0.25}, label="model").data["cost_usd"].tolist() == [0.25]  # type: ignore[union-attr]
