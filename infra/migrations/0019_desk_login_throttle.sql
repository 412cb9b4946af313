-- Failed desk logins, so that guessing passwords is throttled (issue 11 finding 12): per user
-- name (the account attacked) and per client address (one source trying many names). Rows older
-- than the desk's login window are of no use and are deleted as new ones come in. The name is
-- kept as typed (lower case, at most 40 characters), an address as the desk saw it.
CREATE TABLE desk_login_failure (
    username    text NOT NULL,
    address     text NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX desk_login_failure_user_idx ON desk_login_failure (username, at);
CREATE INDEX desk_login_failure_address_idx ON desk_login_failure (address, at);
