-- The history API (/v1/history/alerts) finds and orders a unit's alerts by when what they are
-- about happened (consumers/history.ALERT_TIME), as it does events: a robbery of last March
-- imported today is found in March. Before, by when the alert was raised, which put a year of
-- imported history among today's alerts and out of reach of `until`.
CREATE INDEX alert_unit_event_time_idx
    ON alert (police_unit, (coalesce(occurred_at, created_at)) DESC, alert_id DESC);
