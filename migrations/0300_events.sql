-- The portal is told (issue 14): every recorded step writes one CloudEvents 1.0 event in
-- the same transaction (transactional outbox). Forward-only.
--
-- events.seq: the feed's total order. The step's transaction takes a transaction-scoped
--   advisory lock before it draws its number (registry/events.py), so numbers are committed
--   in the order they are drawn: a reader that has seen seq n never later finds a smaller
--   one appearing (no gap a feed cursor or a delivery lane could skip).
-- events.id: a UUIDv5 of (dossier, step), unique: a retried step never makes a second event.
CREATE TABLE events (
    seq bigserial PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    type text NOT NULL,
    source text NOT NULL,
    subject text NOT NULL REFERENCES applications (dossier),
    step text NOT NULL,
    time timestamptz NOT NULL,
    data jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subject, step)
);
CREATE INDEX events_time ON events (recorded_at);

-- Webhook subscriptions as the worker last read them from the settings (the secret stays
-- in the settings, never here). gone_at: the receiver answered 410 Gone; delivery stopped.
CREATE TABLE event_subscriptions (
    name text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    url text NOT NULL,
    types text[] NOT NULL DEFAULT '{}',
    active boolean NOT NULL DEFAULT true,
    gone_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per (subscription, event), written with the event for every active subscription
-- whose types match. status: pending -> delivered | failed (retry horizon passed).
CREATE TABLE event_deliveries (
    subscription text NOT NULL REFERENCES event_subscriptions (name),
    seq bigint NOT NULL REFERENCES events (seq),
    dossier text NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    PRIMARY KEY (subscription, seq)
);
-- The head of each dossier's lane: its oldest pending event.
CREATE INDEX event_deliveries_pending ON event_deliveries (subscription, dossier, seq)
    WHERE status = 'pending';
