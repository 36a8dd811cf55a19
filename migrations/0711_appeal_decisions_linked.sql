-- An appeal's row gets the BEC's decision and the overdue flag the case recorded for it.
-- Until now only a step carrying the whole appeal updated the row, and the case records the
-- BEC decision and the overdue flag by the appeal's number: every decided appeal still read
-- as open (a resubmission of its training could never be approved) and none as overdue.
-- registry/steps.py links them from now on; this links what was recorded before.
UPDATE appeals a
SET decision_id = d.id
FROM decisions d
WHERE a.decision_id IS NULL
  AND d.dossier = a.dossier
  AND d.kind = 'appeal'
  AND d.step = 'appeal-' || a.number || '-decision';

UPDATE appeals a
SET overdue = true
FROM audit x
WHERE NOT a.overdue
  AND x.dossier = a.dossier
  AND x.step = 'appeal-' || a.number || '-overdue';
