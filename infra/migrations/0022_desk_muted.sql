-- The desk shows an alert that notify muted for the unit's desk (a silence, an inhibition) as
-- silenced, looked up per card by the alert's id among the desk rows of the notification log.
CREATE INDEX delivery_desk_alert_idx ON delivery (alert_id) WHERE channel = 'desk';
