-- Issue 11: the /meld form has staff sessions of its own instead of carrying the
-- organisation's API key.

-- One-time login codes an admin issues for a branch (`heterdaad org meld-code`). Only a hash
-- is kept; a code is spent by its first use.
CREATE TABLE meld_code (
    code_hash       text PRIMARY KEY,
    organisation_id text NOT NULL REFERENCES organisation ON DELETE CASCADE,
    branch_id       text NOT NULL REFERENCES branch ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);

-- A staff session of /meld: short-lived, revocable, tied to the branch its code was for.
CREATE TABLE meld_session (
    session_hash    text PRIMARY KEY,
    organisation_id text NOT NULL REFERENCES organisation ON DELETE CASCADE,
    branch_id       text NOT NULL REFERENCES branch ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz
);
CREATE INDEX meld_session_expires_idx ON meld_session (expires_at);
