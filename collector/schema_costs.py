"""DDL for model prices, costs (as views) and annotations; applied by collector.schema.

Costs are derived, not stored: ``step_costs`` multiplies a step's tokens by the
price of its model (the step's, else the run's) at the run's provider;
``run_costs`` sums its steps' costs, or prices the run's own token totals when no
step carries tokens. The views read ``model_prices``, which the collector fills
for every model it sees (collector.pricing). A cost is NULL when the model has no
known price, and 0 for local models.
"""

from __future__ import annotations

__all__ = ["COSTS_AND_ANNOTATIONS_DDL", "COST_VIEWS_DDL"]

_TABLES_DDL = """
CREATE TABLE IF NOT EXISTS model_prices (
    model VARCHAR NOT NULL,
    provider VARCHAR NOT NULL,          -- '' when the run named none
    input_usd_per_mtok DOUBLE,          -- NULL: no known price
    output_usd_per_mtok DOUBLE,
    source VARCHAR NOT NULL,            -- override, local, genai-prices, unknown
    priced_at TIMESTAMP NOT NULL,
    PRIMARY KEY (model, provider)
);

CREATE TABLE IF NOT EXISTS annotations (
    id VARCHAR PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,              -- good, bad, label, note
    value VARCHAR,                      -- the label or the note
    author VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS annotations_run_id ON annotations (run_id);
"""

# The views alone: the /sql worker creates them over its copy of the tables.
COST_VIEWS_DDL = """
CREATE OR REPLACE VIEW step_costs AS
SELECT s.id AS step_id,
       s.agent_run_id AS run_id,
       s.step_number,
       coalesce(s.model, r.model_used, r.model_requested) AS model,
       coalesce(r.provider, '') AS provider,
       s.input_tokens,
       s.output_tokens,
       (coalesce(s.input_tokens, 0) * p.input_usd_per_mtok
        + coalesce(s.output_tokens, 0) * p.output_usd_per_mtok) / 1e6 AS cost_usd
FROM agent_steps s
LEFT JOIN agent_runs r ON r.id = s.agent_run_id
LEFT JOIN model_prices p
       ON p.model = coalesce(s.model, r.model_used, r.model_requested)
      AND p.provider = coalesce(r.provider, '')
WHERE s.input_tokens IS NOT NULL OR s.output_tokens IS NOT NULL;

CREATE OR REPLACE VIEW run_costs AS
WITH by_run AS (
    SELECT run_id, sum(cost_usd) AS cost_usd, count(*) AS token_steps,
           count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced_steps
    FROM step_costs GROUP BY run_id
)
SELECT r.id AS run_id,
       r.agent_name,
       coalesce(r.model_used, r.model_requested) AS model,
       r.provider,
       r.status,
       r.started_at,
       r.input_tokens,
       r.output_tokens,
       CASE WHEN b.run_id IS NOT NULL THEN b.cost_usd
            ELSE (coalesce(r.input_tokens, 0) * p.input_usd_per_mtok
                  + coalesce(r.output_tokens, 0) * p.output_usd_per_mtok) / 1e6
       END AS cost_usd,
       coalesce(b.unpriced_steps, 0) AS unpriced_steps
FROM agent_runs r
LEFT JOIN by_run b ON b.run_id = r.id
LEFT JOIN model_prices p
       ON p.model = coalesce(r.model_used, r.model_requested)
      AND p.provider = coalesce(r.provider, '');
"""

COSTS_AND_ANNOTATIONS_DDL = _TABLES_DDL + COST_VIEWS_DDL
