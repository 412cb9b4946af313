-- The plate keys used, by id: a keyed hash of a constant, never the key. A part that starts
-- with another key under an id already used is refused (heterdaad/plate_keys.py): under one id
-- the same plate would look like two, which the series and reconnaissance stages count
-- against a link.
CREATE TABLE plate_key (
    key_id          text PRIMARY KEY,
    fingerprint     text NOT NULL,
    first_used_at   timestamptz NOT NULL DEFAULT now()
);
