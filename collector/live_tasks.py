"""The task, requested model and provider of a run known only from its live (pending) copies.

A framework that writes the task on its run span when the span ends (pydantic-ai), or never
(the OpenAI Agents SDK, whose task is its first model call's), leaves a running run's row
without one; so does a run whose span never ends at all (cut by Ctrl-C, its last pending copy
marking it open at exit). Its finished model calls hold the request: the first one that
tells it gives the run its task, as a stand-in's (collector/rootless_runs.py) and a finished
run's (collector/foreign_runs.py) are found; the first call names the model asked for and
its provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb

from collector import frameworks
from collector.conventions import genai as G
from collector.conventions import openinference as OI
from collector.foreign_runs import stored_span
from collector.id_lists import chunks, in_list
from instrumentation.attributes import StepStatus

__all__ = ["fill_live_tasks"]

# The model calls read per run, first first: the first that has its input tells the task.
_CALLS_READ = 3


def fill_live_tasks(con: duckdb.DuckDBPyConnection, run_ids: set[str]) -> None:
    """Give each of ``run_ids`` that is not final and lacks its task or requested model
    what its first model calls tell (the provider too, where the run has none)."""
    found: dict[str, tuple[str | None, str | None, str | None]] = {}
    for listed, params in map(in_list, chunks(sorted(run_ids))):
        rows = con.execute(
            f"""
            SELECT s.agent_run_id, sp.trace_id, sp.span_id, sp.parent_span_id, sp.name,
                   sp.kind, sp.start_ns, sp.end_ns, sp.status_code, sp.status_message,
                   sp.scope_name, sp.scope_version, sp.resource, sp.attributes, sp.events
            FROM agent_steps s
            JOIN agent_runs r ON r.id = s.agent_run_id
            JOIN spans sp ON sp.trace_id = s.trace_id AND sp.span_id = s.span_id
            WHERE s.agent_run_id IN ({listed}) AND NOT r.is_final
              AND (r.task IS NULL OR r.model_requested IS NULL)
              AND s.action_type = 'think' AND s.status <> '{StepStatus.RUNNING}'
            QUALIFY row_number() OVER (
                PARTITION BY s.agent_run_id ORDER BY s.started_at, s.step_number) <= {_CALLS_READ}
            ORDER BY s.agent_run_id, s.started_at, s.step_number
            """,
            params,
        ).fetchall()
        for run_id, *span_row in rows:
            call = stored_span(tuple(span_row))
            task, model, provider = found.get(run_id, (None, None, None))
            call_model, call_provider = _model_and_provider(call.attributes)
            found[run_id] = (
                task or frameworks.llm_input_task(call),
                model or call_model,
                provider or call_provider,
            )
    # One UPDATE for all of them: one a run took 35 ms of a commit of 50 other frameworks'
    # runs (bench.ingest_shapes --statements). The id list lets DuckDB use the index.
    for chunk in chunks(sorted(found)):
        tuples = ", ".join(["(?, ?, ?, ?)"] * len(chunk))
        listed, id_params = in_list(chunk)
        values = [v for run_id in chunk for v in (run_id, *found[run_id])]
        con.execute(
            f"""
            UPDATE agent_runs SET task = coalesce(agent_runs.task, f.task),
                model_requested = coalesce(agent_runs.model_requested, f.model),
                provider = coalesce(agent_runs.provider, f.provider)
            FROM (
                SELECT id::VARCHAR AS id, task::VARCHAR AS task, model::VARCHAR AS model,
                       provider::VARCHAR AS provider
                FROM (VALUES {tuples}) AS v(id, task, model, provider)
            ) f
            WHERE agent_runs.id IN ({listed}) AND agent_runs.id = f.id AND NOT agent_runs.is_final
            """,
            [*values, *id_params],
        )


def _model_and_provider(attrs: Mapping[str, Any]) -> tuple[str | None, str | None]:
    model = attrs.get(G.GEN_AI_REQUEST_MODEL) or attrs.get(OI.LLM_MODEL_NAME)
    provider = next(
        (attrs[k] for k in (G.GEN_AI_PROVIDER_NAME, G.GEN_AI_SYSTEM, OI.LLM_PROVIDER, OI.LLM_SYSTEM)
         if attrs.get(k)),
        None,
    )  # fmt: skip
    return (str(model) if model else None, str(provider) if provider else None)
