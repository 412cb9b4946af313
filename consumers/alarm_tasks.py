"""The alarm-task store as the sink and notify read it; it lives in heterdaad.alarm_tasks.

The store is shared with the intake's task API (producers/api/alarm_tasks.py), so it sits in the
core; this name stays for the consumers' loops until they import the core directly.
"""

from heterdaad.alarm_tasks import (
    UPSERT_TASK,
    settle,
    sites_to_settle,
    stored_channel,
    task_row,
    tell_stored,
)

__all__ = ["UPSERT_TASK", "settle", "sites_to_settle", "stored_channel", "task_row", "tell_stored"]
