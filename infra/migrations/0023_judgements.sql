-- The analysts' judgements of a pattern (issue 15 item 5): on the desk, the police confirm or
-- reject a series, a reconnaissance pattern or a hotspot. Every judgement is kept (a later one
-- does not erase an earlier); the model fit reads the newest per alert and user.
CREATE TABLE judgement (
    judgement_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id        uuid NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('series', 'reconnaissance_warning', 'hotspot')),
    pattern         text NOT NULL,
    verdict         text NOT NULL CHECK (verdict IN ('confirmed', 'rejected')),
    judged_by       text NOT NULL,
    judged_at       timestamptz NOT NULL
);
CREATE INDEX judgement_alert_idx ON judgement (alert_id, judged_at);
