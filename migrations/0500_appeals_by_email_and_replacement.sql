-- Appeals that arrive by e-mail, registered by the BEC secretariat with the moment the
-- e-mail was received (the window and the BEC's 60 days are judged from it), and a
-- registration that a resubmitted training replaces. Forward-only.
ALTER TABLE appeals
    ADD COLUMN route text NOT NULL DEFAULT 'portal' CHECK (route IN ('portal', 'email')),
    ADD COLUMN received_at timestamptz,
    ADD COLUMN document_id text;

CREATE INDEX applications_predecessor_idx ON applications (predecessor_dossier)
    WHERE predecessor_dossier IS NOT NULL;
