"""Labels of an alert and of its recipient: what silences match and groups are made of."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from schemas.alerts import Alert

LabelName = Literal[
    "kind",
    "severity",
    "police_unit",
    "site_id",
    "series_id",
    "hotspot_id",
    "branch_types",
    "dedup_key",
    "organisation_id",
    "channel",
    "recipient",
    "notice",  # 'resolved' or 'escalated' on follow-up notices; empty on the alerts themselves
]
LABEL_NAMES: tuple[str, ...] = get_args(LabelName)

Labels = dict[str, str]


def alert_labels(alert: Alert) -> Labels:
    """The alert's labels; an absent value is the empty string, as in Alertmanager."""
    return {
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "police_unit": alert.police_unit.value,
        "site_id": alert.site_id or "",
        "series_id": alert.series_id or "",
        "hotspot_id": alert.hotspot_id or "",
        # One label for a list: silences match it with a regex such as `.*jeweller.*`.
        "branch_types": ",".join(sorted(kind.value for kind in alert.branch_types_at_risk)),
        "dedup_key": alert.dedup_key,
    }


def group_key(labels: Mapping[str, str], group_by: Sequence[str]) -> str:
    """A stable name of the group: the group_by labels that have a value, in order."""
    return ",".join(f"{name}={labels[name]}" for name in group_by if labels.get(name))
