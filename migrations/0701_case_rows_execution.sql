-- What the registry cannot know by itself: the case's workflow ended abnormally (ops
-- terminated it, it failed or timed out) while its row still says it is live. Set by
-- `python -m ops reconcile`; cleared by the case's next step (a row written by a step is a
-- live case again). Such a case leaves the worklists of reviewers, the BEC and providers
-- and shows in the department's failed-or-stuck list.
ALTER TABLE case_rows
    ADD COLUMN execution text CHECK (execution IN ('terminated', 'failed', 'timed_out', 'canceled')),
    ADD COLUMN execution_at timestamptz,
    ADD CONSTRAINT case_rows_execution_when CHECK ((execution IS NULL) = (execution_at IS NULL));

CREATE INDEX case_rows_failed_or_stuck
    ON case_rows ((coalesce(execution_at, next_deadline_at)), dossier)
    WHERE execution IS NOT NULL OR (state <> 'ended' AND next_deadline_at IS NOT NULL);
