-- The department's figures (issue 30, registry/reports.py): a year's report reads the rows of
-- that year, not the whole register's ten years. Forward-only.
CREATE INDEX applications_submitted_at ON applications (submitted_at);
CREATE INDEX decisions_kind_decided_at ON decisions (kind, decided_at);
CREATE INDEX notifications_sent_at ON notifications (sent_at) WHERE status = 'sent';
CREATE INDEX audit_ends_at ON audit (at) WHERE step IN ('withdrawn', 'stop', 'revoke');
CREATE INDEX registration_periods_dossier ON registration_periods (dossier);
