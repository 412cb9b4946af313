-- History queries by branch: the branch id is an anonymous fact kept beside the payload.
ALTER TABLE event ADD COLUMN branch_id text;
CREATE INDEX event_branch_occurred_idx ON event (branch_id, occurred_at);
CREATE INDEX event_unit_occurred_idx ON event (police_unit, occurred_at);
