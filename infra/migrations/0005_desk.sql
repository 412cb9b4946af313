-- Police desk: users scoped to one regional unit, their login sessions, and escalation of
-- hold-up alerts nobody acknowledged in time.

-- One row per desk user. Only an scrypt hash of the password is kept ("scrypt$n$r$p$salt$hash").
-- A user sees and handles the alerts of its own police unit, nothing else.
CREATE TABLE desk_user (
    username        text PRIMARY KEY CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,39}$'),
    password_hash   text NOT NULL,
    police_unit     text NOT NULL CHECK (police_unit IN
                        ('noord-nederland', 'oost-nederland', 'midden-nederland',
                         'noord-holland', 'amsterdam', 'den-haag', 'rotterdam',
                         'zeeland-west-brabant', 'oost-brabant', 'limburg')),
    language        text NOT NULL DEFAULT 'nl' CHECK (language IN ('nl', 'en')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    disabled_at     timestamptz
);

-- A login: the browser holds the token, the table only its SHA-256 (the token has 256 random
-- bits). The CSRF token goes into every form of the session and is checked on every POST.
CREATE TABLE desk_session (
    token_hash      text PRIMARY KEY,
    username        text NOT NULL REFERENCES desk_user ON DELETE CASCADE,
    csrf_token      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX desk_session_user_idx ON desk_session (username);
CREATE INDEX desk_session_expires_idx ON desk_session (expires_at);

-- Set once when an unacknowledged hold-up alert outlived the desk's escalation threshold.
ALTER TABLE alert ADD COLUMN escalated_at timestamptz;
-- The desk's sweep looks only at open hold-ups.
CREATE INDEX alert_open_hold_up_idx ON alert (created_at)
    WHERE kind = 'hold_up_in_progress' AND acknowledged_at IS NULL AND escalated_at IS NULL;
