-- The department registers, updates, deactivates and reactivates training providers (the API
-- and the CLI). A deactivated provider cannot submit; its running cases go on. Every change
-- is kept with who made it, what it was before and after, and why.
ALTER TABLE providers
    ADD COLUMN active boolean NOT NULL DEFAULT true,
    ADD COLUMN deactivated_at timestamptz,
    ADD COLUMN deactivation_reason text,
    ADD CONSTRAINT providers_deactivation CHECK (active = (deactivated_at IS NULL));

CREATE TABLE provider_changes (
    id bigserial PRIMARY KEY,
    enterprise_number text NOT NULL REFERENCES providers (enterprise_number),
    change text NOT NULL CHECK (change IN ('registered', 'updated', 'deactivated', 'reactivated')),
    by_subject text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    before jsonb,
    after jsonb NOT NULL,
    reason text NOT NULL DEFAULT ''
);
CREATE INDEX provider_changes_provider ON provider_changes (enterprise_number, at);
