-- The model of time (docs/time.md): an alert past its live horizon is historical. The desk
-- shows it in its history view; a webhook gets it only when its subscription asks for it.
ALTER TABLE subscription
    ADD COLUMN include_historical boolean NOT NULL DEFAULT false;
