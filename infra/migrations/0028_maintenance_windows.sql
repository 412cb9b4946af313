-- Maintenance windows of alarm sites, with a start and an end, kept as a history per site.
-- Alarm verification judges a press by when it was made (docs/time.md): a press made before a
-- window began, forwarded in a backlog or caught up after a restart during it, is a real
-- press; one made inside a window is ignored however late it arrives. `maintenance_until`
-- alone could not tell either: it had no start, and it was overwritten by the next window.
-- The worker reads the windows that ended within time.late_bound_days
-- (docs/alarm-verification.md, "Maintenance"); `heterdaad org maintenance` sets them.
CREATE TABLE alarm_site_maintenance (
    site_id     text NOT NULL REFERENCES alarm_site ON DELETE CASCADE,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    set_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    PRIMARY KEY (site_id, starts_at)
);
CREATE INDEX alarm_site_maintenance_ends_idx ON alarm_site_maintenance (ends_at);

-- A window set before this migration: its start is unknown, so it begins now. Presses made
-- before it, still to be processed, then count as real (an alert too many, not a hold-up lost).
INSERT INTO alarm_site_maintenance (site_id, starts_at, ends_at)
SELECT site_id, now(), maintenance_until FROM alarm_site WHERE maintenance_until > now();

-- One place for a window: a value written here would be read by nobody.
ALTER TABLE alarm_site DROP COLUMN maintenance_until;
