-- Camera in Beeld (issue 12 item 5, action programme §7.5 h): cameras that owners registered
-- with the police, so that after a robbery the police know whom to ask for footage. The owner's
-- contact is personal data: only police and admin read it (docs/cameras.md).
CREATE TABLE camera (
    camera_id      text PRIMARY KEY CHECK (camera_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    owner          text NOT NULL CHECK (length(owner) BETWEEN 1 AND 120),
    contact_phone  text CHECK (length(contact_phone) <= 40),
    contact_email  text CHECK (length(contact_email) <= 254),
    lat            double precision NOT NULL,
    lon            double precision NOT NULL,
    place          text NOT NULL CHECK (length(place) BETWEEN 1 AND 200),
    view           text NOT NULL CHECK (length(view) BETWEEN 1 AND 200),
    retention_days integer NOT NULL CHECK (retention_days BETWEEN 1 AND 366),
    registered_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (contact_phone IS NOT NULL OR contact_email IS NOT NULL)
);
-- The nearby query takes a bounding box first (latitude band), then the exact distance.
CREATE INDEX camera_lat_lon_idx ON camera (lat, lon);

-- Liveview (§7.5 h): the police can watch the shop's camera live during a hold-up.
ALTER TABLE alarm_site ADD COLUMN liveview_url text
    CHECK (liveview_url ~ '^https://[^[:space:]]+$' AND length(liveview_url) <= 508);
