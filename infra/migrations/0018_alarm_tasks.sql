-- Verify tasks for alarm centres (docs/alarm-tasks.md): the sink stores alarm-tasks.v1 here,
-- once per task id; the centre reads them at /v1/alarm-tasks and answers with a verdict there
-- or, as before, with an activation carrying its verification. Either ends the task.
CREATE TABLE alarm_task (
    task_id        uuid PRIMARY KEY,
    -- The order of storing: a long-poll's cursor (GET /v1/alarm-tasks?after=).
    seq            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    kind           text NOT NULL CHECK (kind IN ('verify', 'site_silent')),
    alarm_centre   text NOT NULL,
    site_id        text NOT NULL,
    signal         text NOT NULL,
    activation_ids uuid[] NOT NULL,
    dedup_key      text NOT NULL,
    created_at     timestamptz NOT NULL,
    deadline       timestamptz NOT NULL,
    stored_at      timestamptz NOT NULL DEFAULT now(),
    status         text NOT NULL DEFAULT 'open'
                       CHECK (status IN ('open', 'answered', 'expired')),
    -- The verdict, from the API or from an activation with a verification.
    answered_at    timestamptz,
    answered_via   text CHECK (answered_via IN ('api', 'activation')),
    answered_by    text,
    verdict_method text,
    verified       boolean,
    verdict_note   text,
    late           boolean,
    CHECK ((status = 'answered') = (answered_at IS NOT NULL))
);
CREATE INDEX alarm_task_centre_idx ON alarm_task (alarm_centre, seq);
CREATE INDEX alarm_task_site_idx ON alarm_task (site_id) WHERE status <> 'answered';
CREATE INDEX alarm_task_open_idx ON alarm_task (alarm_centre, deadline) WHERE status = 'open';
-- Activations by site, to find a verification that answers a task.
CREATE INDEX event_alarm_site_idx ON event ((payload -> 'site' ->> 'site_id'), occurred_at)
    WHERE event_type = 'alarm_activation';

-- Webhooks of alarm centres receive their tasks through the notification log
-- (consumers/notify/tasks.py): the table is the outbox, `dispatched_at` says a task's
-- delivery rows were written (even to nobody), in the same transaction as those rows.
ALTER TABLE alarm_task ADD COLUMN dispatched_at timestamptz;
CREATE INDEX alarm_task_undispatched_idx ON alarm_task (stored_at) WHERE dispatched_at IS NULL;
ALTER TABLE delivery
    DROP CONSTRAINT delivery_notice_check,
    ADD CONSTRAINT delivery_notice_check
        CHECK (notice IN ('alert', 'resolved', 'escalated', 'task'));
