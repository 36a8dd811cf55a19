-- Documents belong to whoever uploaded them: one provider organisation, or the BEC or the
-- department (`owner`). The same bytes are one document within one owner only; another
-- organisation uploading them gets a record of its own, so no answer ever carries another
-- organisation's metadata and an upload tells nothing about what others hold.
ALTER TABLE documents ADD COLUMN owner text;
-- Uploads by staff were not told apart: the BEC registers appeals received by e-mail.
UPDATE documents SET owner = coalesce(organisation, 'bec');
ALTER TABLE documents DROP CONSTRAINT documents_sha256_key;

-- Every other organisation that uploaded the same bytes gets its own record. The first
-- uploader's file name and person are theirs: the copy carries neither.
INSERT INTO documents (id, sha256, size_bytes, media_type, name, organisation, uploaded_by,
                       uploaded_at, content, owner)
SELECT gen_random_uuid(), d.sha256, d.size_bytes, d.media_type, 'document', u.organisation,
       'unknown', u.first_at, d.content, u.organisation
FROM document_uploads u JOIN documents d ON d.id = u.document_id
WHERE u.organisation <> d.owner;

-- A dossier's attachment of another organisation's record moves to its provider's own copy
-- of the same bytes (it uploaded them too); one it never uploaded stays attached but gives
-- no right to read (registry/documents.py).
UPDATE document_dossiers dd SET document_id = mine.id
FROM documents theirs, applications a, documents mine
WHERE dd.document_id = theirs.id
  AND a.dossier = dd.dossier
  AND theirs.owner NOT IN (a.provider, 'bec', 'department')
  AND mine.owner = a.provider
  AND mine.sha256 = theirs.sha256
  AND NOT EXISTS (SELECT 1 FROM document_dossiers x
                  WHERE x.document_id = mine.id AND x.dossier = dd.dossier);

ALTER TABLE documents
    ALTER COLUMN owner SET NOT NULL,
    ADD CONSTRAINT documents_owner_kind CHECK (owner ~ '^[0-9]{10}$' OR owner IN ('bec', 'department')),
    ADD CONSTRAINT documents_owner_sha256 UNIQUE (owner, sha256),
    DROP COLUMN organisation;
DROP TABLE document_uploads;
