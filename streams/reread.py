"""Once a worker has settled after a rebalance, read every partition again from its committed
offset.

Around a rebalance's table recovery, Faust now and then fetches records that no stream ever
gets: the consumer's position moves past them, nothing acknowledges them, so their offsets are
never committed, and the worker goes on as if they had not been written until its next restart.
Seen in the restart tests (tests/streams/test_verify_alarms.py): a duress press, published while
a restarted worker recovered its tables, lay committed-behind on its partition for minutes with
the worker idle. Faust's own checks only warn about such a partition ("has not committed").

So after each rebalance, when recovery has completed and `settle_seconds` have passed, the worker
commits what its streams finished and seeks every partition back to its committed offset, once.
Records still in flight are read twice; every stage recognises a repeat (seen event ids, dedup
keys), as after any restart.
"""

from __future__ import annotations

import logging
from time import monotonic
from typing import TYPE_CHECKING, cast

from aiokafka.errors import KafkaError

if TYPE_CHECKING:
    import faust
    from faust.tables.manager import TableManager

logger = logging.getLogger(__name__)


class RereadAfterRebalance:
    """A timer's beat: the re-read due after the current rebalance, done once it is due."""

    def __init__(self, app: faust.App, settle_seconds: float) -> None:
        self._app = app
        self._settle = settle_seconds
        self._done_for: int | None = None
        self._settled_since: float | None = None

    def due(self, rebalances: int, settled: bool, now: float) -> bool:
        """Whether to read again now; `rebalances` counts the rebalances so far."""
        if not settled:
            self._settled_since = None
            return False
        if self._done_for == rebalances:
            return False
        if self._settled_since is None:
            self._settled_since = now
        if now - self._settled_since < self._settle:
            return False
        self._done_for = rebalances
        return True

    def failed(self) -> None:
        """The re-read did not go through: due again once the worker has settled anew."""
        self._done_for = None
        self._settled_since = None

    async def beat(self) -> None:
        app = self._app
        # The interface (TableManagerT) leaves out the recovery that the manager has.
        recovery = cast("TableManager", app.tables).recovery
        settled = not app.rebalancing and recovery.completed.is_set()
        if not self.due(app.rebalancing_count, settled, monotonic()):
            return
        consumer = app.consumer
        try:
            await consumer.commit()
            await consumer.perform_seek()
        except KafkaError as error:
            # The broker went away meanwhile. Raised from a timer it crashed the worker: in the
            # long broker test the log starts were asked for as the broker stopped, and the
            # request timed out (KafkaTimeoutError, 90 s) while it was down again. Seeking again
            # from the committed offsets is harmless, so the whole re-read is simply done later.
            self.failed()
            logger.warning(
                "could not read again from the committed offsets, will try again",
                extra={"rebalances": app.rebalancing_count, "error": repr(error)},
            )
            return
        logger.info(
            "read again from the committed offsets after the rebalance",
            extra={"rebalances": app.rebalancing_count},
        )


def register(app: faust.App, settle_seconds: float) -> None:
    """Add the re-read to the app's timers; a `settle_seconds` of 0 leaves it out."""
    if settle_seconds <= 0:
        return
    reread = RereadAfterRebalance(app, settle_seconds)
    # Faust's timer decorator is untyped: applied as a call.
    app.timer(interval=min(1.0, settle_seconds / 2))(reread.beat)
