-- The yearly screening: the facts its measures read, its runs and their progress.
-- Forward-only. Results themselves go into the registry's screening_results (step
-- 'screening-<year>'), so a dossier's record shows them beside everything else.

-- The provider's activity report for one calendar year. A missing row, or a missing
-- number in it, makes that year's measures unknown: the screening records "incomplete".
CREATE TABLE training_activity (
    dossier text NOT NULL REFERENCES applications (dossier),
    year int NOT NULL CHECK (year BETWEEN 2000 AND 9999),
    sessions int CHECK (sessions >= 0),
    participants int CHECK (participants >= 0),
    completions int CHECK (completions >= 0),
    reported_at timestamptz NOT NULL DEFAULT now(),
    CHECK (completions IS NULL OR participants IS NULL OR completions <= participants),
    PRIMARY KEY (dossier, year)
);

-- Occupations in demand (knelpuntberoepen) as published for a screening year.
CREATE TABLE occupations_in_demand (
    year int NOT NULL CHECK (year BETWEEN 2000 AND 9999),
    code text NOT NULL CHECK (length(code) BETWEEN 1 AND 40),
    label text NOT NULL DEFAULT '',
    PRIMARY KEY (year, code)
);

-- Certificates recognised from one day to another (inclusive); matched on the name the
-- application gives, case- and space-insensitively.
CREATE TABLE recognised_certifications (
    name_key text PRIMARY KEY CHECK (name_key = lower(btrim(name_key)) AND name_key <> ''),
    name text NOT NULL,
    recognised_from date NOT NULL,
    recognised_until date CHECK (recognised_until IS NULL OR recognised_until >= recognised_from)
);

-- One row per screening year: which rubric, which day, how far, and the final report.
CREATE TABLE screening_runs (
    year int PRIMARY KEY CHECK (year BETWEEN 2000 AND 9999),
    screening_date date NOT NULL,
    activity_year int NOT NULL,
    rubric_version text NOT NULL,
    -- The rubric as used: a later edit of the file cannot change a run in progress.
    rubric jsonb NOT NULL,
    workflow_id text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    -- Set once the population is frozen; the population never changes afterwards.
    population_frozen_at timestamptz,
    total int,
    finished_at timestamptz,
    report jsonb
);

-- Who is screened in a year: frozen once, at the start, so a resumed run neither skips nor
-- adds a training. delivery: pending -> signalled, or case_ended (the case ended between
-- scoring and telling it: reported, not crashed on).
CREATE TABLE screening_population (
    year int NOT NULL REFERENCES screening_runs (year),
    dossier text NOT NULL REFERENCES applications (dossier),
    delivery text NOT NULL DEFAULT 'pending'
        CHECK (delivery IN ('pending', 'signalled', 'case_ended')),
    delivered_at timestamptz,
    PRIMARY KEY (year, dossier)
);
CREATE INDEX screening_population_pending ON screening_population (year, dossier)
    WHERE delivery = 'pending';

-- The registry's result row gains what the run needs: the outcome in three values
-- (incomplete data is not a plain fail) and a notice day that is only known once the
-- e-mail went out.
ALTER TABLE screening_results
    ADD COLUMN outcome text CHECK (outcome IN ('passed', 'failed', 'incomplete')),
    ALTER COLUMN notified_on DROP NOT NULL;
CREATE INDEX screening_results_year ON screening_results (year, dossier);

