-- The registry: the opleidingsdatabank's system of record.
-- Forward-only: never edit this file once applied; add a new numbered file instead.
-- 0100+ is reserved for the screening work.

-- Belgian enterprise number: 10 digits, starts with 0 or 1, last two digits = 97 - first 8 mod 97.
CREATE FUNCTION odb_valid_enterprise_number(en text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT en ~ '^[01][0-9]{9}$'
       AND 97 - (substr(en, 1, 8)::bigint % 97) = substr(en, 9, 2)::int
$$;

CREATE TABLE providers (
    enterprise_number text PRIMARY KEY
        CHECK (odb_valid_enterprise_number(enterprise_number)),
    name text NOT NULL CHECK (length(name) >= 2),
    contact_email text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per year; its row lock serialises allocation, and a rolled-back allocation leaves
-- no gap. A committed number is never handed out again (the counter only grows).
CREATE TABLE dossier_counters (
    year int PRIMARY KEY CHECK (year BETWEEN 2000 AND 9999),
    last_value int NOT NULL CHECK (last_value BETWEEN 1 AND 999999)
);

CREATE TABLE applications (
    dossier text PRIMARY KEY CHECK (dossier ~ '^ODB-[0-9]{4}-[0-9]{6}$'),
    provider text NOT NULL REFERENCES providers (enterprise_number),
    idempotency_key text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    payload_sha256 text NOT NULL,
    payload jsonb NOT NULL,
    title text NOT NULL,
    provider_name text NOT NULL,
    contact_email text NOT NULL,
    start_date date NOT NULL,
    end_date date CHECK (end_date IS NULL OR end_date >= start_date),
    volume_unit text NOT NULL CHECK (volume_unit IN ('contact_hours', 'teaching_periods', 'study_points')),
    volume numeric(7, 2) NOT NULL,
    -- The public VOV minimum, enforced here too so no code path can store a shorter training.
    CHECK ((volume_unit = 'study_points' AND volume >= 3) OR (volume_unit <> 'study_points' AND volume >= 32)),
    competent_body text NOT NULL,
    predecessor_dossier text REFERENCES applications (dossier),
    submitted_at timestamptz NOT NULL,
    state text NOT NULL DEFAULT 'under_review',
    late_submission_warning boolean NOT NULL DEFAULT false,
    -- Last registered day after a negative screening (31 December of the following year).
    removal_on date,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX applications_provider_idx ON applications (provider, submitted_at);

-- Append-only trail; (dossier, step) is also what makes a workflow step idempotent.
CREATE TABLE audit (
    id bigserial PRIMARY KEY,
    dossier text NOT NULL REFERENCES applications (dossier),
    step text NOT NULL CHECK (length(step) BETWEEN 1 AND 200),
    at timestamptz NOT NULL,
    actor text NOT NULL,
    actor_detail jsonb NOT NULL,
    event text NOT NULL,
    state_before text,
    state_after text NOT NULL,
    details jsonb NOT NULL DEFAULT '{}',
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dossier, step)
);

CREATE FUNCTION odb_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION odb_audit_append_only();

CREATE TABLE decisions (
    id bigserial PRIMARY KEY,
    dossier text NOT NULL REFERENCES applications (dossier),
    step text NOT NULL,
    kind text NOT NULL,
    outcome text NOT NULL,
    reason text NOT NULL DEFAULT '',
    decided_at timestamptz NOT NULL,
    decided_by text NOT NULL,
    body text,
    UNIQUE (dossier, step)
);

CREATE TABLE appeals (
    dossier text NOT NULL REFERENCES applications (dossier),
    number int NOT NULL CHECK (number >= 1),
    subject text NOT NULL CHECK (subject IN ('refusal', 'screening')),
    filed_at timestamptz NOT NULL,
    filed_by text NOT NULL,
    motivation text NOT NULL,
    decision_last_day date NOT NULL,
    decision_due_at timestamptz NOT NULL,
    overdue boolean NOT NULL DEFAULT false,
    decision_id bigint REFERENCES decisions (id),
    PRIMARY KEY (dossier, number)
);

CREATE TABLE hearings (
    dossier text NOT NULL,
    appeal_number int NOT NULL,
    side text NOT NULL CHECK (side IN ('provider', 'department')),
    waived boolean NOT NULL,
    held_on date NOT NULL,
    note text NOT NULL DEFAULT '',
    recorded_by text NOT NULL,
    PRIMARY KEY (dossier, appeal_number, side),
    FOREIGN KEY (dossier, appeal_number) REFERENCES appeals (dossier, number)
);

CREATE TABLE screening_results (
    id bigserial PRIMARY KEY,
    dossier text NOT NULL REFERENCES applications (dossier),
    step text NOT NULL,
    year int NOT NULL,
    passed boolean NOT NULL,
    score double precision,
    rubric_version text NOT NULL,
    -- Score per criterion, {"criterion": score}; filled by the screening run when it has them.
    criteria jsonb NOT NULL DEFAULT '{}',
    remarks text NOT NULL DEFAULT '',
    notified_on date NOT NULL,
    result_id text NOT NULL DEFAULT '',
    UNIQUE (dossier, step)
);

-- Registered from starts_on through ends_on (both inclusive); ends_on NULL: still open.
CREATE TABLE registration_periods (
    id bigserial PRIMARY KEY,
    dossier text NOT NULL REFERENCES applications (dossier),
    starts_on date NOT NULL,
    ends_on date CHECK (ends_on IS NULL OR ends_on >= starts_on),
    end_reason text,
    opened_step text NOT NULL,
    closed_step text,
    CHECK ((ends_on IS NULL) = (end_reason IS NULL))
);
CREATE UNIQUE INDEX registration_periods_one_open ON registration_periods (dossier)
    WHERE ends_on IS NULL;
CREATE INDEX registration_periods_dates ON registration_periods (starts_on, ends_on);

-- The current deadline of each kind; earlier values stay in the audit details.
CREATE TABLE deadlines (
    dossier text NOT NULL REFERENCES applications (dossier),
    kind text NOT NULL,
    starts_on date NOT NULL,
    last_day date NOT NULL,
    due_at timestamptz NOT NULL,
    rule text NOT NULL,
    shifts jsonb NOT NULL DEFAULT '[]',
    step text NOT NULL,
    PRIMARY KEY (dossier, kind)
);

-- The outbox and the record of every e-mail. status: pending -> sending -> sent; a failure
-- before the server took the message puts it back to pending; after DATA it is uncertain.
CREATE TABLE notifications (
    id bigserial PRIMARY KEY,
    dossier text NOT NULL REFERENCES applications (dossier),
    step text NOT NULL,
    kind text NOT NULL,
    recipient text NOT NULL,
    to_address text NOT NULL,
    subject text NOT NULL,
    body text NOT NULL,
    message_id text NOT NULL UNIQUE,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'sent', 'uncertain', 'failed')),
    attempts int NOT NULL DEFAULT 0,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sending_at timestamptz,
    sent_at timestamptz,
    UNIQUE (dossier, step, kind, recipient)
);
CREATE INDEX notifications_pending ON notifications (dossier) WHERE status = 'pending';
