-- Who is due for a screening (issue 11), and activities retrying beyond the threshold.
-- Forward-only.

-- rules/screening.py: first_screening_year, the same rule in SQL so the population query
-- applies it set-based. The screening of year Y judges year Y-1: a registration that
-- started on or before 1 January of Y-1 is due in Y.
CREATE FUNCTION odb_first_screening_year(registered_from date) RETURNS int
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT extract(year FROM registered_from)::int
         + CASE WHEN extract(month FROM registered_from) = 1
                 AND extract(day FROM registered_from) = 1 THEN 1 ELSE 2 END
$$;

-- Registered on the screening date but not yet due: frozen with the population (a resumed
-- run reports the same), counted in the report with their first screening year, never told.
CREATE TABLE screening_not_yet_due (
    year int NOT NULL REFERENCES screening_runs (year),
    dossier text NOT NULL REFERENCES applications (dossier),
    registered_from date NOT NULL,
    first_year int NOT NULL CHECK (first_year > year),
    PRIMARY KEY (year, dossier)
);

-- An activity (of any workflow) that failed `attempt` times and is still being retried:
-- written by the worker's activity interceptor (runtime/activity_watch.py), removed when it
-- succeeds or fails for good. Read by `python -m ops stuck` and the odb_activities_retrying
-- gauge. A row not seen for a while belongs to a workflow that ended or was reset.
CREATE TABLE stuck_activities (
    workflow_id text NOT NULL,
    run_id text NOT NULL,
    activity_id text NOT NULL,
    activity_type text NOT NULL,
    workflow_type text NOT NULL,
    task_queue text NOT NULL,
    attempt int NOT NULL,
    last_error text NOT NULL DEFAULT '',
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, run_id, activity_id)
);
CREATE INDEX stuck_activities_seen ON stuck_activities (seen_at);
