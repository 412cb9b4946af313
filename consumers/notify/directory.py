"""The routing directory read from PostgreSQL: police desks, subscriptions, their branches."""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from pydantic import ValidationError

from consumers.notify.route import (
    BRANCH_ROLES,
    BranchSite,
    Directory,
    PoliceDesk,
    SubscriptionRule,
)
from consumers.notify.subscriptions import spec_of, windows_by_subscription
from heterdaad.thresholds.notify import NotifyThresholds
from schemas.common import BranchType, PoliceUnit

if TYPE_CHECKING:
    import asyncpg

    from consumers.notify.admin import Database
    from consumers.notify.windows import TimeWindow

logger = logging.getLogger(__name__)


# The branches each subscribing organisation answers for, as the history API counts them for
# reports (consumers/history._scope): its own; a trade association's members' too; an alarm
# centre's those of its alarm sites.
_BRANCHES = """
    WITH reach (subscriber, branch_id) AS (
        SELECT organisation_id, branch_id FROM branch WHERE organisation_id = ANY($1)
        UNION
        SELECT m.association_id, b.branch_id
          FROM association_member m JOIN branch b ON b.organisation_id = m.member_id
         WHERE m.association_id = ANY($2)
        UNION
        SELECT alarm_centre, branch_id FROM alarm_site
         WHERE alarm_centre = ANY($3) AND branch_id IS NOT NULL
    )
    SELECT r.subscriber, b.branch_id, b.organisation_id, b.chain, b.branch_type, b.lat, b.lon
      FROM reach r JOIN branch b USING (branch_id)
     ORDER BY r.subscriber, b.branch_id"""


async def load_directory(db: Database, *, retail_max_radius_m: float | None = None) -> Directory:
    """Everything routing needs, read at once; rows no subscription could hold are skipped.
    `retail_max_radius_m` (notify.retail_max_radius_m) bounds every rule of BRANCH_ROLES."""
    desks = tuple(
        PoliceDesk(row["organisation_id"], PoliceUnit(row["police_unit"]))
        for row in await db.fetch(
            "SELECT organisation_id, police_unit FROM organisation WHERE role = 'police' "
            "AND disabled_at IS NULL AND police_unit IS NOT NULL ORDER BY organisation_id"
        )
        if row["police_unit"] in PoliceUnit.__members__.values()
    )
    rows = await db.fetch(
        "SELECT s.*, o.role FROM subscription s JOIN organisation o USING (organisation_id) "
        "WHERE o.disabled_at IS NULL ORDER BY s.subscription_id"
    )
    windows = await windows_by_subscription(db)
    rules = tuple(rule for row in rows if (rule := _rule(row, windows)) is not None)
    # A watch's radius counts from its area's centre, not from branches; the roles of
    # BRANCH_ROLES always count from branches (a rule without radius_m has the cap).
    counting = sorted({
        rule.organisation_id for rule in rules
        if rule.organisation_role in BRANCH_ROLES or (rule.radius_m and rule.area_center is None)
    })  # fmt: skip
    roles = {rule.organisation_id: rule.organisation_role for rule in rules}
    branches: dict[str, tuple[BranchSite, ...]] = {}
    for row in await db.fetch(
        _BRANCHES,
        counting,
        [who for who in counting if roles[who] == "trade_association"],
        [who for who in counting if roles[who] == "alarm_centre"],
    ):
        if row["branch_type"] not in BranchType.__members__.values():
            continue
        site = BranchSite(
            row["branch_id"], row["organisation_id"], row["chain"],
            BranchType(row["branch_type"]), row["lat"], row["lon"],
        )  # fmt: skip
        branches[row["subscriber"]] = (*branches.get(row["subscriber"], ()), site)
    return Directory(
        desks=desks, subscriptions=rules, branches=branches,
        retail_max_radius_m=NotifyThresholds().retail_max_radius_m
        if retail_max_radius_m is None else retail_max_radius_m,
    )  # fmt: skip


def _rule(
    row: asyncpg.Record, windows: dict[int, tuple[TimeWindow, ...]]
) -> SubscriptionRule | None:
    subscription_id: int = row["subscription_id"]
    try:
        spec = spec_of(row, windows.get(subscription_id, ()))
    except (ValidationError, ValueError) as error:
        logger.warning(
            "subscription skipped: not valid",
            extra={"subscription_id": subscription_id, "reason": str(error)},
        )
        return None
    return SubscriptionRule(
        subscription_id=subscription_id,
        organisation_id=row["organisation_id"],
        organisation_role=row["role"],
        alert_kinds=spec.alert_kinds,
        branch_types=spec.branch_types,
        chains=spec.chains,
        police_units=spec.police_units,
        radius_m=spec.radius_m,
        min_severity=spec.min_severity,
        # As stored, not as normalised: the secret is looked up by this very text.
        webhook_url=row["webhook_url"],
        language=spec.language,
        windows=spec.windows,
        send_alerts=spec.send_alerts,
        send_escalations=spec.send_escalations,
        include_historical=spec.include_historical,
        area_center=None if spec.area_center is None
        else (spec.area_center.lat, spec.area_center.lon),
    )


class CachedDirectory:
    """The directory, read again once it is older than `max_age_seconds` or expired."""

    def __init__(self, max_age_seconds: float, retail_max_radius_m: float | None = None) -> None:
        self.max_age_seconds = max_age_seconds
        self.retail_max_radius_m = retail_max_radius_m
        self._directory: Directory | None = None
        # A monotonic clock: the service's own clock may be a test's virtual one.
        self._loaded_at = 0.0  # when the read of the directory held began
        self._expired_at = -math.inf

    def expire(self) -> None:
        """Read again at the next `get`: a subscription changed. A read under way when this is
        called may have read the subscriptions before the change, so it does not count."""
        self._expired_at = time.monotonic()

    async def get(self, db: Database) -> Directory:
        began = time.monotonic()
        if (
            self._directory is None
            or began - self._loaded_at > self.max_age_seconds
            or self._expired_at >= self._loaded_at
        ):
            self._directory = await load_directory(db, retail_max_radius_m=self.retail_max_radius_m)
            self._loaded_at = began
        return self._directory
