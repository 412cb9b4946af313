-- Issue 11: SIA sites speak encrypted frames unless explicitly marked for plain ones.

-- A plain frame can be written by anyone who reaches the receiver, so accepting them is a
-- decision an admin takes per site (`heterdaad org alarm-site ... --plain-frames`), never the
-- default. Existing keyless sites are not grandfathered in: they are refused until an admin
-- gives them a key (`org rotate-key`) or marks them plain.
ALTER TABLE alarm_site
    ADD COLUMN sia_plain_frames boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT alarm_site_plain_or_keyed CHECK (NOT (sia_plain_frames AND sia_key IS NOT NULL));
