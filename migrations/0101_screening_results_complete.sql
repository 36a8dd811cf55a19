-- One screening result row per (dossier, year), always complete, whichever side writes it
-- first (the run's set-based insert, or the case recording its negative outcome). Until now
-- the case could write a row without an outcome, and the run's insert then kept it: the
-- report could not read it (issue 11). Forward-only.

-- Repair: derive the outcome of rows that have none. The case only ever recorded negative
-- outcomes; the run records an incomplete one without a score, a failed one with it.
UPDATE screening_results
SET outcome = CASE
        WHEN passed THEN 'passed'
        WHEN score IS NULL OR remarks LIKE 'Onvolledige gegevens%' THEN 'incomplete'
        ELSE 'failed'
    END
WHERE outcome IS NULL;

ALTER TABLE screening_results
    ALTER COLUMN outcome SET NOT NULL,
    -- passed is the two-valued view of outcome: they may never disagree.
    ADD CONSTRAINT screening_results_passed_is_outcome CHECK (passed = (outcome = 'passed')),
    -- A judged result has a score; only incomplete data leaves it unknown. NOT VALID: older
    -- rows may lack a score we cannot reconstruct; every row written from now on is checked.
    ADD CONSTRAINT screening_results_scored CHECK (outcome = 'incomplete' OR score IS NOT NULL)
        NOT VALID,
    ADD CONSTRAINT screening_results_rubric_named CHECK (rubric_version <> '') NOT VALID;
