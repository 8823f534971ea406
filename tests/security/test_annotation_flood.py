"""A run takes at most 1,000 annotations.

Found from outside: annotations per run were not capped, and a run's list is
read whole (the run page and the dashboard): 3,000 notes of 10,000 characters
on one run made that list 30 MB for every reader. Now the 1,001st annotation
of a run is answered 409 and stored nowhere; the run's list, other runs and
everything already stored are unchanged.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import httpx
import pytest
from opentelemetry.trace import Tracer

from collector import annotations as run_annotations
from collector.annotations import MAX_PER_RUN, RunFullyAnnotated, add_annotation, list_annotations
from collector.schema import migrate
from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle

NOW = datetime(2026, 1, 1)


def test_the_store_refuses_the_annotation_past_the_cap() -> None:
    con = duckdb.connect(":memory:")
    migrate(con)
    for run_id in ("full", "other"):
        con.execute(
            "INSERT INTO agent_runs (id, status, updated_at) VALUES (?, 'completed', ?)",
            [run_id, NOW],
        )
    for n in range(MAX_PER_RUN):
        add_annotation(con, "full", kind="note", value=f"n{n}", author="a", now=NOW)
    for kind, value in (("note", "one more"), ("good", None), ("label", "x" * 10_000)):
        with pytest.raises(RunFullyAnnotated, match="1000 annotations"):
            add_annotation(con, "full", kind=kind, value=value, author="b", now=NOW)
    kept = list_annotations(con, ["full"])
    assert len(kept) == MAX_PER_RUN
    assert {a["author"] for a in kept} == {"a"}
    assert add_annotation(con, "other", kind="good", value=None, author="b", now=NOW)["run_id"]


def _run(tracer: Tracer) -> None:
    with tracer.start_as_current_span("invoke_agent annotated") as span:
        span.set_attribute("gen_ai.operation.name", "invoke_agent")
        span.set_attribute("agent_run.id", "annotated-run")


def test_the_api_answers_409_past_the_cap(
    collector: CollectorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cap made small so the test stays short; the store test above uses the real one.
    monkeypatch.setattr(run_annotations, "MAX_PER_RUN", 3)
    export("http-protobuf", collector, record_spans(_run))
    url = f"{collector.api_url}/agent/runs/annotated-run/annotations"
    for n in range(3):
        made = httpx.post(url, json={"kind": "note", "value": f"n{n}", "author": "a"}, timeout=30)
        assert made.status_code == 201, made.text
    refused = httpx.post(url, json={"kind": "bad", "author": "b"}, timeout=30)
    assert refused.status_code == 409
    assert "3 annotations" in refused.json()["detail"]
    listed = httpx.get(url, timeout=30).json()["annotations"]
    assert [a["value"] for a in listed] == ["n0", "n1", "n2"]
    # The refused verdict did not become the run's latest one.
    runs = httpx.get(f"{collector.api_url}/agent/runs", params={"annotation": "bad"}, timeout=30)
    assert runs.json()["runs"] == []
