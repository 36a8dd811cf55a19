-- Events are never dropped while a webhook subscription is paused. Forward-only.
--
-- A subscription is paused while gone_at (the receiver answered 410 Gone) or paused_at (ops:
-- `python -m starter events pause`) is set. A paused subscription keeps getting one pending
-- delivery row per event (registry/events.py: append); delivery sends none of them until
-- `events resume` (or, for a gone one, a new URL in the settings) clears both.
ALTER TABLE event_subscriptions
    ADD COLUMN paused_at timestamptz,
    ADD COLUMN paused_note text,
    ADD COLUMN resumed_at timestamptz;

-- The retry horizon ("not accepted within N hours: failed") counts from here: the event's
-- recorded_at while NULL; a resume (or a redeliver) sets it to that moment for every row
-- still pending, so time spent paused never burns the horizon.
ALTER TABLE event_deliveries ADD COLUMN horizon_from timestamptz;

-- Until now no row was written for a gone subscription: give the events recorded since it
-- went gone their pending rows (in seq order, their original ids), so a resume sends them.
INSERT INTO event_deliveries (subscription, seq, dossier)
SELECT s.name, e.seq, e.subject
FROM event_subscriptions s
JOIN events e ON e.recorded_at >= s.gone_at
WHERE s.gone_at IS NOT NULL AND s.active AND (s.types = '{}' OR e.type = ANY (s.types))
ORDER BY e.seq
ON CONFLICT (subscription, seq) DO NOTHING;
