-- What is kept, and for how long (issue 23): the nightly purge's own record, legal holds,
-- and the archive file of each ended dossier. Forward-only.

-- One row per purge run (the workflow id): the instant it purged as of, and the table it
-- applied (as read at its start, so a later edit of retention.yaml never changes a run).
CREATE TABLE retention_runs (
    run_id text PRIMARY KEY,
    as_of timestamptz NOT NULL,
    table_version text NOT NULL,
    retention_table jsonb NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    archived int,
    taken jsonb
);

-- One row per batch that took something: which kind, what was done, under which rule, how
-- many, the period (oldest and newest moment of what went) and the keys (dossier numbers,
-- document ids, enterprise numbers; none personal). batch_key (run/kind/number) makes a
-- retried batch find its row and change nothing twice. Append-only, like the audit trail.
CREATE TABLE retention_batches (
    id bigserial PRIMARY KEY,
    run_id text NOT NULL REFERENCES retention_runs (run_id),
    batch_key text NOT NULL UNIQUE,
    kind text NOT NULL,
    action text NOT NULL CHECK (action IN ('delete', 'strip_personal')),
    rule text NOT NULL,
    table_version text NOT NULL,
    as_of timestamptz NOT NULL,
    count int NOT NULL CHECK (count > 0),
    moment_from timestamptz,
    moment_to timestamptz,
    keys jsonb NOT NULL DEFAULT '[]',
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX retention_batches_run ON retention_batches (run_id, id);

CREATE FUNCTION odb_retention_batches_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the purge record is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER retention_batches_append_only BEFORE UPDATE OR DELETE ON retention_batches
    FOR EACH ROW EXECUTE FUNCTION odb_retention_batches_append_only();

-- What was done to which record, once: a kind's candidates leave out what is listed here.
CREATE TABLE retention_done (
    kind text NOT NULL,
    key text NOT NULL,
    batch_id bigint NOT NULL REFERENCES retention_batches (id),
    PRIMARY KEY (kind, key)
);

-- A dossier on hold (a case in court, an inquiry): nothing of it is purged until released.
CREATE TABLE retention_holds (
    dossier text PRIMARY KEY REFERENCES applications (dossier),
    reason text NOT NULL CHECK (length(reason) >= 3),
    held_by text NOT NULL,
    held_at timestamptz NOT NULL DEFAULT now()
);

-- The archive file of each ended dossier (one self-contained ZIP), written once.
CREATE TABLE dossier_archives (
    dossier text PRIMARY KEY REFERENCES applications (dossier),
    path text NOT NULL,
    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes bigint NOT NULL CHECK (size_bytes > 0),
    parts int NOT NULL,
    ended_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- When each case ended: the purge counts most kinds from it.
CREATE INDEX audit_case_ended ON audit (dossier, at) WHERE state_after = 'ended';
-- Documents are counted from the decision on the appeal that names them.
CREATE INDEX appeals_document ON appeals (document_id) WHERE document_id IS NOT NULL;
CREATE INDEX event_deliveries_settled ON event_deliveries (created_at)
    WHERE status IN ('delivered', 'failed');

-- The audit trail stays append-only for everyone but the purge: inside a purge batch
-- (`SET LOCAL odb.retention = 'strip'`) an UPDATE may replace the personal fields (actor,
-- actor_detail, details) and nothing else; a DELETE stays refused.
CREATE OR REPLACE FUNCTION odb_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND current_setting('odb.retention', true) = 'strip'
       AND NEW.id = OLD.id AND NEW.dossier = OLD.dossier AND NEW.step = OLD.step
       AND NEW.at = OLD.at AND NEW.event = OLD.event
       AND NEW.state_before IS NOT DISTINCT FROM OLD.state_before
       AND NEW.state_after = OLD.state_after AND NEW.recorded_at = OLD.recorded_at THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only (% refused)', TG_OP;
END $$;
