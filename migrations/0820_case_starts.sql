-- The starts to be made (issue 27): a row is written in the transaction that allocates a
-- dossier (registry/applications.py) and deleted once Temporal has its case (started now,
-- or found already started). A submission is accepted while Temporal is down; whoever
-- drains this table (every API process and every worker, starter/case_starts.py) starts
-- the case as soon as Temporal is back, so nothing depends on the portal retrying and
-- nothing is lost if the API dies between its commit and the start. While its row is here
-- the dossier reads "received, its case is being started" and is on no worklist.
CREATE TABLE case_starts (
    dossier text PRIMARY KEY REFERENCES applications (dossier) ON DELETE CASCADE,
    requested_at timestamptz NOT NULL DEFAULT now(),
    -- Claimed by one drainer until then (FOR UPDATE SKIP LOCKED, then this lease): a drainer
    -- that dies mid-start leaves it to another once the lease runs out.
    claimed_until timestamptz,
    -- Not before then: a start refused for another reason than an outage waits longer.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    attempts int NOT NULL DEFAULT 0,
    last_error text
);
CREATE INDEX case_starts_due ON case_starts (next_attempt_at, requested_at);

-- Dossiers allocated before this table whose case never started (their submission was
-- answered 503 and the portal never retried): no step recorded, still under review. A
-- start of a case that does run is harmless (the workflow id is the dossier number; the
-- drainer then only deletes the row).
INSERT INTO case_starts (dossier, requested_at)
SELECT a.dossier, a.submitted_at FROM applications a
WHERE a.state = 'under_review'
  AND NOT EXISTS (SELECT 1 FROM audit au WHERE au.dossier = a.dossier)
  AND EXISTS (SELECT 1 FROM case_rows r WHERE r.dossier = a.dossier AND r.last_step = 'submitted');
