-- Where an organisation's webhooks went when a subscription was changed (consumers/notify/
-- change.py), written in the change's transaction. The notify service routes with subscriptions
-- it read up to notify.directory_refresh_seconds ago: rows it still writes for the old webhook
-- are sent to where it went (`follow_move`). This was read from the audit trail, which is kept
-- for accountability, on its own retention, with free-form details; delivery must not depend on
-- it. new_url NULL: the subscription was left without a webhook (nothing to follow).
-- Rows go with the notification log they serve (`heterdaad db retention`, docs/notify.md).
CREATE TABLE webhook_move (
    move_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organisation_id text NOT NULL REFERENCES organisation ON DELETE CASCADE,
    old_url         text NOT NULL,
    new_url         text,
    moved_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (new_url IS DISTINCT FROM old_url)
);
CREATE INDEX webhook_move_from_idx ON webhook_move (organisation_id, old_url, moved_at DESC);
CREATE INDEX webhook_move_at_idx ON webhook_move (moved_at);

-- No moves are copied from the audit trail: only those of the last refresh interval before the
-- upgrade could still matter, and the upgraded service reads subscriptions afresh at start.
