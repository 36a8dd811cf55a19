-- Reconciliation runs (`python -m ops reconcile`, ops/reconcile.py): each run compares every
-- live case's workflow with its current-state row (case_rows) and records what it found and
-- what is left after a repair. The worker's gauges odb_case_row_differences and
-- odb_case_rows_missing read the latest run. Runs older than 90 days are deleted by the
-- next run.
CREATE TABLE reconcile_runs (
    id bigserial PRIMARY KEY,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    -- every case checked: running in Temporal or live by its row
    live_cases integer NOT NULL,
    -- how many of them the visibility pass sent to a workflow query (all of them: --full)
    queried integer NOT NULL,
    -- found by this run (confirmed by a query), then left after its repair (if any)
    differences_found integer NOT NULL,
    missing_found integer NOT NULL,
    differences integer NOT NULL,
    missing integer NOT NULL,
    repaired integer NOT NULL DEFAULT 0,
    -- cases that could not be checked (a step in progress, no answer to the query)
    unchecked integer NOT NULL DEFAULT 0,
    -- up to 200 of the differences left: [{dossier, field, row, workflow}]
    details jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX reconcile_runs_finished ON reconcile_runs (finished_at);
