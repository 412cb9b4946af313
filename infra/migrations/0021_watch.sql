-- Neighbourhood watch groups (buurtpreventie, docs/neighbourhood-watch.md): a role of their own,
-- and the area a watch subscribes to (a point; the subscription's radius_m is the circle's).
ALTER TABLE organisation DROP CONSTRAINT organisation_role_check;
ALTER TABLE organisation ADD CONSTRAINT organisation_role_check CHECK (role IN
    ('alarm_centre', 'retailer', 'trade_association', 'police', 'admin', 'neighbourhood_watch'));
ALTER TABLE subscription
    ADD COLUMN area_lat double precision,
    ADD COLUMN area_lon double precision,
    ADD CONSTRAINT subscription_area_check
        CHECK ((area_lat IS NULL) = (area_lon IS NULL)
               AND (area_lat IS NULL OR radius_m IS NOT NULL));
