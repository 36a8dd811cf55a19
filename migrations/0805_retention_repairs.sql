-- Rows an earlier strip damaged (it guessed personal data by key names: an appeal's
-- `subject`, a decision's `body`, a step's copy of the case and its e-mails' values), restored
-- from the dossier's archive and stripped again as personal_fields.yaml declares
-- (`python -m ops retention repair`). One row per record repaired: which, from which archive,
-- under which declaration, and the paths written (none personal). Append-only.
CREATE TABLE retention_repairs (
    id bigserial PRIMARY KEY,
    run_id text NOT NULL,
    dossier text NOT NULL REFERENCES applications (dossier),
    table_name text NOT NULL,
    row_key text NOT NULL,
    archive_sha256 text NOT NULL CHECK (archive_sha256 ~ '^[0-9a-f]{64}$'),
    declaration_version text NOT NULL,
    paths jsonb NOT NULL,
    by_subject text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX retention_repairs_dossier ON retention_repairs (dossier, id);

CREATE FUNCTION odb_retention_repairs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the repair record is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER retention_repairs_append_only BEFORE UPDATE OR DELETE ON retention_repairs
    FOR EACH ROW EXECUTE FUNCTION odb_retention_repairs_append_only();
