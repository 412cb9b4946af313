"""Worker roles: which stages one worker process runs, and the consumer group it runs them in.

One process running every stage decides a live hold-up press behind whatever else its event
loop and Faust's one delivery loop are busy with: behind a CBL import of 3,000 old reports a
press waited 90-128 s for its verify task; with verify_alarms in a process of its own, 9 s
(bench/RESULTS.md, "A worker process of its own for verify_alarms"). A role names such a
split; `all` is the one process of before, and stays the default.

- `live` runs the stages that alert on what is happening now: verify_alarms (a press) and
  report_robberies (a robbery report, the "catch them in the act" alert), in the deployment's
  own group and app id (Settings.app_id): the same group, tables, changelogs and internal
  topic as `all`, so a deployment that splits keeps the alarm state and the offsets it has
  (report_robberies' table of the robberies it alerted per branch too, and it does not alert
  the history again), and the API's /readyz keeps watching the group that decides presses.
  report_robberies is cheap per report, so it costs the press little; a history import's
  robbery alerts (historical, medium severity) are made here too.
- `patterns` runs link_series, detect_hotspots and link_reconnaissance in a group of its own,
  `<app_id>-patterns`: every process of a split must get every record of its topics, so the
  two cannot share a group. Faust names the tables' changelogs and the stages name their
  internal topics after the app id, so the patterns role has its own, and starts them empty:
  a new group reads its topics from the earliest retained record and rebuilds series, hotspot
  and reconnaissance state from them, alerting that history's series, hotspots and
  reconnaissance again (kept once downstream by alert id; docs/operations.md, "Worker roles").

Two roles of one split never share a group; `all` and `live` do, so they are never run
side by side (stop the one worker before starting the split).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)

Role = Literal["all", "live", "patterns"]
ROLES: tuple[Role, ...] = get_args(Role)

STAGES: dict[Role, tuple[str, ...]] = {
    # In the order of streams/app.py, which is the order the intake hands a record on.
    "all": (
        "report_robberies", "verify_alarms", "link_series", "detect_hotspots",
        "link_reconnaissance",
    ),
    "live": ("report_robberies", "verify_alarms"),
    "patterns": ("link_series", "detect_hotspots", "link_reconnaissance"),
}  # fmt: skip
"""The stages each role runs."""

# The roles with a group of their own: the suffix of its app id.
_OWN_GROUP: dict[Role, str] = {"patterns": "patterns"}


class UnknownRole(ValueError):
    """A role that is none of ROLES; the message names it and the known ones."""


def parse_role(text: str) -> Role:
    """The role named `text` (as an operator types it: `live`, ` Patterns `)."""
    name = text.strip().lower()
    for role in ROLES:
        if role == name:
            return role
    raise UnknownRole(f"unknown worker role {text!r}; the roles are {', '.join(ROLES)}")


def role_app_id(settings: Settings, role: Role) -> str:
    """The Faust app id and consumer group of `role`: Settings.app_id for `all` and `live`."""
    suffix = _OWN_GROUP.get(role)
    return settings.app_id if suffix is None else f"{settings.app_id}-{suffix}"


def role_settings(settings: Settings, role: Role) -> Settings:
    """The settings a role's stages are registered with: its app id, from which the stages
    name their internal topics and the source of what they publish."""
    app_id = role_app_id(settings, role)
    if app_id == settings.app_id:
        return settings
    return settings.model_copy(update={"app_id": app_id})
