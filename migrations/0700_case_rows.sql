-- The case's current state, one row per case, written in the transaction of every step that
-- changes it (registry/steps.py) and first with the submission (registry/applications.py):
-- what the portal reads (a dossier, its list, the worklists), so reads never wait on
-- Temporal. Computed from the case's status by rules/case_view.py: case_row, the same
-- functions as its search attributes. `status` is the whole case after `last_step`.
CREATE TABLE case_rows (
    dossier text PRIMARY KEY REFERENCES applications (dossier),
    provider text NOT NULL,
    competent_body text NOT NULL,
    title text NOT NULL,
    state text NOT NULL,
    end_reason text,
    waiting_for text NOT NULL,
    next_step text NOT NULL,
    waiting_since timestamptz,
    next_deadline_kind text,
    next_deadline_on date,
    next_deadline_at timestamptz,
    open_appeal boolean NOT NULL DEFAULT false,
    bec_due_on date,
    overdue boolean NOT NULL DEFAULT false,
    missing_hearings text NOT NULL DEFAULT '',
    appeal_without_document boolean NOT NULL DEFAULT false,
    removal_on date,
    submitted_at timestamptz NOT NULL,
    last_step text NOT NULL,
    last_step_at timestamptz NOT NULL,
    status jsonb NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);

-- One index per worklist and per list a provider pages through: each page is one indexed
-- range scan in the list's own order (registry/case_rows.py), whatever the list's size.
CREATE INDEX case_rows_reviewer ON case_rows (competent_body, waiting_since, dossier)
    WHERE state = 'under_review';
CREATE INDEX case_rows_bec ON case_rows ((NOT overdue), bec_due_on, dossier)
    WHERE waiting_for = 'bec';
CREATE INDEX case_rows_overdue ON case_rows (bec_due_on, dossier) WHERE overdue;
CREATE INDEX case_rows_removals ON case_rows (removal_on, dossier)
    WHERE state = 'removal_scheduled';
CREATE INDEX case_rows_live_deadlines ON case_rows (next_deadline_at, dossier)
    WHERE state <> 'ended' AND next_deadline_at IS NOT NULL;
CREATE INDEX case_rows_without_document ON case_rows (waiting_since, dossier)
    WHERE appeal_without_document;
CREATE INDEX case_rows_provider_windows ON case_rows (provider, next_deadline_at, dossier)
    WHERE waiting_for = 'provider' AND next_deadline_kind = 'appeal_window';
CREATE INDEX case_rows_provider ON case_rows (provider, submitted_at DESC, dossier DESC);
CREATE INDEX case_rows_provider_state ON case_rows (provider, state, submitted_at DESC, dossier DESC);
