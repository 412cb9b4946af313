-- Notification (consumers/notify): what the notification log needs beyond 0001, the time
-- windows of subscriptions, silences, and the state of groups, rate limits and inhibition.

-- The notification log. 'muted': silenced, inhibited or outside a time window, never sent.
ALTER TABLE delivery DROP CONSTRAINT delivery_state_check;
ALTER TABLE delivery ADD CONSTRAINT delivery_state_check
    CHECK (state IN ('pending', 'delivered', 'failed', 'dead', 'muted'));
ALTER TABLE delivery
    -- Whom it is for: the desk shows an organisation's rows with channel 'desk'.
    ADD COLUMN organisation_id  text,
    ADD COLUMN webhook_url      text,
    -- The labels silences match, the group it is sent with, the alert's own time.
    ADD COLUMN labels           jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN group_key        text,
    ADD COLUMN alert_created_at timestamptz,
    -- What is sent: the recipient's view only, cleared once the row is final (it may hold
    -- personal data for police webhooks); the one-line summary stays for the history.
    ADD COLUMN language         text NOT NULL DEFAULT 'nl',
    ADD COLUMN summary          text,
    ADD COLUMN payload          jsonb,
    -- Rows sent together share a key (the Idempotency-Key); retries resend exactly them.
    ADD COLUMN notification_key text,
    ADD COLUMN muted_by         text,
    ADD COLUMN last_attempt_at  timestamptz;
CREATE INDEX delivery_open_due_idx ON delivery (next_attempt_at)
    WHERE state IN ('pending', 'failed');
CREATE INDEX delivery_notification_idx ON delivery (notification_key)
    WHERE notification_key IS NOT NULL;
CREATE INDEX delivery_organisation_idx ON delivery (organisation_id, channel, created_at);

-- Every webhook request, for the delivery history.
CREATE TABLE delivery_attempt (
    notification_key text NOT NULL,
    attempt          integer NOT NULL,
    at               timestamptz NOT NULL,
    status_code      integer,
    error            text,
    duration_ms      integer NOT NULL,
    PRIMARY KEY (notification_key, attempt)
);

-- When a subscription's webhook may be notified, e.g. a shop's opening hours for
-- reconnaissance warnings. ISO weekdays (1 Monday); ends before starts: past midnight.
CREATE TABLE subscription_window (
    window_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id bigint NOT NULL REFERENCES subscription ON DELETE CASCADE,
    weekdays        smallint[] NOT NULL
                        CHECK (cardinality(weekdays) > 0 AND weekdays <@ '{1,2,3,4,5,6,7}'),
    starts          time NOT NULL,
    ends            time NOT NULL CHECK (ends <> starts),
    time_zone       text NOT NULL DEFAULT 'Europe/Amsterdam',
    alert_kinds     text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX subscription_window_subscription_idx ON subscription_window (subscription_id);

-- Silences: matching alerts are not sent while one is active. Expiring one sets ends_at, so
-- the record (with who asked for it and why) stays.
CREATE TABLE silence (
    silence_id  uuid PRIMARY KEY,
    matchers    jsonb NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    author      text NOT NULL,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL,
    expired_by  text,
    CHECK (ends_at >= starts_at)
);
CREATE INDEX silence_ends_idx ON silence (ends_at);

-- Grouping state per recipient and group (group_wait, group_interval, repeat_interval).
CREATE TABLE notify_group (
    recipient     text NOT NULL,
    group_key     text NOT NULL,
    opened_at     timestamptz NOT NULL,
    touched_at    timestamptz NOT NULL,
    next_flush_at timestamptz NOT NULL,
    last_flush_at timestamptz,
    PRIMARY KEY (recipient, group_key)
);

-- A token bucket per webhook receiver, shared by every instance of the service.
CREATE TABLE notify_rate (
    recipient   text PRIMARY KEY,
    tokens      double precision NOT NULL,
    refilled_at timestamptz NOT NULL
);

-- Alerts that may inhibit others (a hold-up in progress), kept while they can.
CREATE TABLE notify_inhibitor (
    dedup_key  text PRIMARY KEY,
    kind       text NOT NULL,
    labels     jsonb NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX notify_inhibitor_kind_idx ON notify_inhibitor (kind, created_at);
