-- Follow-up notices (consumers/notify/notices.py): an alert's resolution and escalation are
-- told to subscribers through the notification log, picked up from the alert table (the
-- outbox), so nothing is written twice and nothing is lost between the desk and the sender.

-- What a row of the notification log tells: the alert itself, that it was resolved (to every
-- recipient the alert reached), or that a hold-up was escalated (to escalation receivers).
-- Notices have their own dedup key, '<alert dedup key>#resolved' / '#escalated', so the
-- primary key (dedup_key, recipient) keeps each one to one row per recipient.
ALTER TABLE delivery
    ADD COLUMN notice text NOT NULL DEFAULT 'alert'
        CHECK (notice IN ('alert', 'resolved', 'escalated')),
    -- The recipient's role, so that a later notice is formed in the same view as the alert.
    ADD COLUMN role   text;

-- Who gets what: alerts (as before) and, for police webhooks, escalations of hold-ups.
ALTER TABLE subscription
    ADD COLUMN send_alerts      boolean NOT NULL DEFAULT true,
    ADD COLUMN send_escalations boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT subscription_sends_something CHECK (send_alerts OR send_escalations);

-- An alert's escalation is dispatched once: this row is written in the same transaction as
-- the escalation's delivery rows, even when nobody receives it.
CREATE TABLE notify_notice (
    dedup_key     text NOT NULL,
    notice        text NOT NULL CHECK (notice IN ('resolved', 'escalated')),
    dispatched_at timestamptz NOT NULL,
    recipients    integer NOT NULL,
    PRIMARY KEY (dedup_key, notice)
);
CREATE INDEX notify_notice_dispatched_idx ON notify_notice (dispatched_at);

-- The sweeps look only at recent resolutions and escalations.
CREATE INDEX alert_resolved_idx ON alert (resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX alert_escalated_idx ON alert (escalated_at) WHERE escalated_at IS NOT NULL;
