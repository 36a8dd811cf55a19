-- When a case's own timer fires for its nearest deadline (rules.case_view.wakes_at): its
-- due_at, and for a refused case's appeal window the days after it during which an appeal
-- e-mailed in time can still be registered. A live case an hour past it is stuck: the
-- department's failed-or-stuck list reads this, not the deadline (a refusal waits on purpose).
ALTER TABLE case_rows ADD COLUMN wakes_at timestamptz;

UPDATE case_rows r SET wakes_at = r.next_deadline_at + CASE
        WHEN r.state = 'refused' AND r.next_deadline_kind = 'appeal_window'
        THEN make_interval(days => coalesce((
            CASE WHEN jsonb_typeof(r.status) = 'string' THEN (r.status #>> '{}')::jsonb
                 ELSE r.status END ->> 'refusal_final_after_days')::int, 0))
        ELSE interval '0' END
    WHERE r.next_deadline_at IS NOT NULL;

DROP INDEX case_rows_failed_or_stuck;
CREATE INDEX case_rows_failed_or_stuck
    ON case_rows ((coalesce(execution_at, wakes_at)), dossier)
    WHERE execution IS NOT NULL OR (state <> 'ended' AND wakes_at IS NOT NULL);
