-- Motivation documents of appeals (PDF, DOCX, ODT; at most 10 MB), stored once per content:
-- the same bytes uploaded twice are one document. Never carried in a Temporal payload: a
-- case holds the document id (and its hash).
CREATE TABLE documents (
    id uuid PRIMARY KEY,
    sha256 text NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes integer NOT NULL CHECK (size_bytes BETWEEN 1 AND 10485760),
    media_type text NOT NULL CHECK (media_type IN (
        'application/pdf',
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
        'application/vnd.oasis.opendocument.text')),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    -- The organisation (enterprise number) of the first upload; NULL when the BEC or the
    -- department uploaded it (an appeal received by e-mail).
    organisation text,
    uploaded_by text NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now(),
    content bytea NOT NULL CHECK (octet_length(content) = size_bytes)
);

-- Every organisation that uploaded these bytes: each may read the document.
CREATE TABLE document_uploads (
    document_id uuid NOT NULL REFERENCES documents (id),
    organisation text NOT NULL,
    first_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, organisation)
);

-- The dossiers a document is attached to (an appeal's motivation): the dossier's provider
-- may read it.
CREATE TABLE document_dossiers (
    document_id uuid NOT NULL REFERENCES documents (id),
    dossier text NOT NULL REFERENCES applications (dossier),
    attached_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, dossier)
);
CREATE INDEX document_dossiers_dossier ON document_dossiers (dossier);
