-- Foundation: organisations and keys, branches and alarm sites, events, alerts,
-- subscriptions, the notification log and the audit log.

CREATE TABLE organisation (
    organisation_id text PRIMARY KEY,
    name            text NOT NULL,
    role            text NOT NULL CHECK (role IN
                        ('alarm_centre', 'retailer', 'trade_association', 'police', 'admin')),
    police_unit     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    disabled_at     timestamptz
);

-- Only a hash of each key is kept; the prefix lets a key be found without scanning all hashes.
CREATE TABLE api_key (
    key_id          text PRIMARY KEY,
    organisation_id text NOT NULL REFERENCES organisation ON DELETE CASCADE,
    key_hash        text NOT NULL,
    scopes          text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    revoked_at      timestamptz
);

CREATE TABLE branch (
    branch_id       text PRIMARY KEY,
    organisation_id text NOT NULL REFERENCES organisation,
    chain           text,
    branch_type     text NOT NULL,
    lat             double precision NOT NULL,
    lon             double precision NOT NULL,
    police_unit     text,
    street          text,
    postcode        text,
    city            text,
    opening_hours   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX branch_type_idx ON branch (branch_type);

CREATE TABLE alarm_site (
    site_id            text PRIMARY KEY,
    alarm_centre       text NOT NULL REFERENCES organisation,
    subscriber_account text NOT NULL,
    branch_id          text REFERENCES branch,
    sia_key            bytea,
    maintenance_until  timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (alarm_centre, subscriber_account)
);

-- Every event that was accepted, once (upsert on event_id). The payload holds personal data
-- (descriptions, plate pseudonyms) and is cleared after the retention period; the columns
-- beside it are the anonymous facts kept for counts.
CREATE TABLE event (
    event_id        uuid PRIMARY KEY,
    event_type      text NOT NULL CHECK (event_type IN
                        ('alarm_activation', 'incident_report', 'recon_sighting')),
    organisation_id text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    kind            text NOT NULL,
    branch_type     text,
    police_unit     text,
    lat             double precision NOT NULL,
    lon             double precision NOT NULL,
    payload         jsonb,
    payload_purged_at timestamptz
);
CREATE INDEX event_occurred_idx ON event (occurred_at);
CREATE INDEX event_type_occurred_idx ON event (event_type, occurred_at);

CREATE TABLE alert (
    alert_id        uuid PRIMARY KEY,
    dedup_key       text NOT NULL,
    kind            text NOT NULL,
    severity        text NOT NULL,
    police_unit     text NOT NULL,
    lat             double precision NOT NULL,
    lon             double precision NOT NULL,
    created_at      timestamptz NOT NULL,
    payload         jsonb,
    payload_purged_at timestamptz,
    acknowledged_at timestamptz,
    acknowledged_by text,
    resolved_at     timestamptz,
    resolved_by     text,
    outcome         text
);
CREATE INDEX alert_dedup_idx ON alert (dedup_key);
CREATE INDEX alert_unit_created_idx ON alert (police_unit, created_at);

CREATE TABLE subscription (
    subscription_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organisation_id text NOT NULL REFERENCES organisation ON DELETE CASCADE,
    alert_kinds     text[] NOT NULL DEFAULT '{}',
    branch_types    text[] NOT NULL DEFAULT '{}',
    chains          text[] NOT NULL DEFAULT '{}',
    police_units    text[] NOT NULL DEFAULT '{}',
    radius_m        double precision,
    min_severity    text NOT NULL DEFAULT 'info',
    webhook_url     text,
    webhook_secret  text,
    language        text NOT NULL DEFAULT 'nl' CHECK (language IN ('nl', 'en')),
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- The notification log: one row per (dedup key, recipient) is what makes "never notify twice"
-- hold across restarts, rebalances and replays.
CREATE TABLE delivery (
    dedup_key       text NOT NULL,
    recipient       text NOT NULL,
    alert_id        uuid NOT NULL,
    channel         text NOT NULL,
    state           text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    PRIMARY KEY (dedup_key, recipient)
);
CREATE INDEX delivery_due_idx ON delivery (state, next_attempt_at);

CREATE TABLE audit_log (
    audit_id        uuid PRIMARY KEY,
    at              timestamptz NOT NULL,
    actor           text NOT NULL,
    action          text NOT NULL,
    subject         text NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, at);
