-- Notices are delivered apart from the step that queued them (issue: a decision never waits
-- for SMTP, and a notice is never lost). Forward-only.
--
-- context: what the template needs; the message is rendered again when it is sent, because
--   the day it goes out fixes the dates it quotes (an appeal window runs from receipt).
-- claimed_by / lease_until: who holds a 'sending' claim and until when. The same claimant
--   (a retried activity) may take its claim back at once; anyone else only after the lease,
--   so a worker that died or stalled mid-send never leaves a notice unsent.
-- 'uncertain' is no longer written: a send interrupted after DATA is sent again with the
--   same Message-ID (at-least-once); rows left so by earlier code are reclaimed like an
--   expired 'sending' claim.
ALTER TABLE notifications
    ADD COLUMN context jsonb,
    ADD COLUMN claimed_by text,
    ADD COLUMN lease_until timestamptz;

CREATE INDEX notifications_open ON notifications (created_at)
    WHERE status IN ('pending', 'sending', 'uncertain', 'failed');
