-- Intake API: idempotency receipts of accepted events, and trade associations' members.

-- The answer given to an event once the broker acknowledged it. A replay of the event id by
-- the same organisation with the same body gets this answer again and publishes nothing; a
-- different body (or organisation) under the id is refused. Rejections are not kept here:
-- they are re-judged on a retry (a branch may have been registered meanwhile).
CREATE TABLE ingest_receipt (
    event_id        uuid PRIMARY KEY,
    organisation_id text NOT NULL REFERENCES organisation ON DELETE CASCADE,
    event_type      text NOT NULL CHECK (event_type IN
                        ('alarm_activation', 'incident_report', 'recon_sighting')),
    -- SHA-256 of the published (pseudonymised) event, never of a body with a raw plate.
    body_sha256     text NOT NULL,
    status_code     integer NOT NULL,
    body            jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingest_receipt_created_idx ON ingest_receipt (created_at);

-- Organisations a trade association (the CBL) reports for: it may post events for their
-- branches as well as its own.
CREATE TABLE association_member (
    association_id  text NOT NULL REFERENCES organisation ON DELETE CASCADE,
    member_id       text NOT NULL REFERENCES organisation ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (association_id, member_id)
);
