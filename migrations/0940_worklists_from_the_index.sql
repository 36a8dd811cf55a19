-- The worklists' counts (and the failed-or-stuck list's filter) answered from the index alone.
-- Every list keeps only live cases (`execution IS NULL`) and failed-or-stuck filters on
-- `wakes_at`: neither column was in its index, so a count read each listed case's row (one
-- heap page per case: 5,000 for the VOC's list at 100,000 cases, on every page of it) and
-- failed-or-stuck read the row of every live case with a timer to find the few past it.
-- The same keys and predicates as 0700/0702 (every query they served still finds them), with
-- the filtered columns included (and the columns under a key's expression: PostgreSQL reads
-- those from the index only when they are in it), so a count and the list's keyset scan are
-- index-only.
DROP INDEX case_rows_reviewer;
CREATE INDEX case_rows_reviewer ON case_rows (competent_body, waiting_since, dossier)
    INCLUDE (execution) WHERE state = 'under_review';
DROP INDEX case_rows_bec;
CREATE INDEX case_rows_bec ON case_rows ((NOT overdue), bec_due_on, dossier)
    INCLUDE (execution, overdue) WHERE waiting_for = 'bec';
DROP INDEX case_rows_overdue;
CREATE INDEX case_rows_overdue ON case_rows (bec_due_on, dossier)
    INCLUDE (execution) WHERE overdue;
DROP INDEX case_rows_removals;
CREATE INDEX case_rows_removals ON case_rows (removal_on, dossier)
    INCLUDE (execution) WHERE state = 'removal_scheduled';
DROP INDEX case_rows_without_document;
CREATE INDEX case_rows_without_document ON case_rows (waiting_since, dossier)
    INCLUDE (execution) WHERE appeal_without_document;
DROP INDEX case_rows_failed_or_stuck;
CREATE INDEX case_rows_failed_or_stuck
    ON case_rows ((coalesce(execution_at, wakes_at)), dossier)
    INCLUDE (execution, execution_at, wakes_at)
    WHERE execution IS NOT NULL OR (state <> 'ended' AND wakes_at IS NOT NULL);
DROP INDEX case_rows_provider_windows;
CREATE INDEX case_rows_provider_windows ON case_rows (provider, next_deadline_at, dossier)
    INCLUDE (execution) WHERE waiting_for = 'provider' AND next_deadline_kind = 'appeal_window';
