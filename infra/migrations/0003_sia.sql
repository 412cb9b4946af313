-- SIA DC-09 receiver: telling equal account numbers of different alarm centres apart, how often
-- each site must be heard from, and when it last was (link supervision).

-- Account numbers are only unique per alarm centre; the DC-09 account prefix ("L" field) that a
-- centre's transmitters use tells them apart. NULL: the account is matched on its number alone.
ALTER TABLE alarm_site ADD COLUMN sia_line text CHECK (sia_line ~ '^[0-9A-F]{1,6}$');
-- How long a site may stay silent before it is reported as site_silent; NULL: the receiver's
-- default (25 h, one missed daily test report plus margin).
ALTER TABLE alarm_site ADD COLUMN sia_supervision interval
    CHECK (sia_supervision > interval '0');
CREATE INDEX alarm_site_sia_account_idx ON alarm_site (upper(subscriber_account));

-- Link state lives apart from the site's configuration: it is written on every frame.
CREATE TABLE sia_link (
    site_id      text PRIMARY KEY REFERENCES alarm_site ON DELETE CASCADE,
    last_seen    timestamptz NOT NULL,
    last_signal  text NOT NULL,
    -- Set when the site_silent event was published; cleared by the next frame, so each
    -- silence is reported once.
    silent_since timestamptz
);
CREATE INDEX sia_link_unsilenced_idx ON sia_link (last_seen) WHERE silent_since IS NULL;
