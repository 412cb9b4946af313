"""A crashed agent ends its worker at once and non-zero, for the process supervisor (the main
job, compose's restart policy) to start a successor; the crashes in a row are counted."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import mode

if TYPE_CHECKING:
    from pathlib import Path

    from mode.utils.types.trees import NodeT

logger = logging.getLogger(__name__)

# EX_SOFTWARE: an internal error, as opposed to a refused start-up (EXIT_TOPICS).
EXIT_AGENT_CRASHED = 70
# EX_CONFIG: the worker's topics are missing or have the wrong partition count.
EXIT_TOPICS = 78


class CrashCount:
    """How many times in a row this worker's process ended by a crash, kept in its state dir,
    so that a restart loop shows in the log line of every start."""

    def __init__(self, datadir: Path) -> None:
        self._path = datadir / "crashes-in-a-row"

    def read(self) -> int:
        try:
            return int(self._path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def note(self) -> int:
        count = self.read() + 1
        self._path.write_text(f"{count}\n")
        return count

    def clear(self) -> None:
        self._path.unlink(missing_ok=True)


class StopWorkerOnCrash(mode.SupervisorStrategy):
    """An agent's supervisor that ends the process when one of its actors crashes.

    Faust's default (OneForOneSupervisor) restarts the actor in place; an actor whose stream
    failed (PartitionsMismatch, a bug) stays dead while the worker looks alive. Here the process
    exits with os._exit, at once: a graceful stop would commit what Faust acked on the way out,
    the failed record among them (a stream acks its event in a `finally`), and lose it. Without
    that commit the successor reads again from the last committed offset, as after a SIGKILL.
    """

    # Set by create_app: where the crash count lives.
    crashes: CrashCount | None = None

    def wakeup(self) -> None:
        # Called synchronously right after an actor is marked crashed (Agent._execute_actor),
        # before the loop runs anything else: no commit can slip in between.
        if not self._stopping():
            for service in self._services:
                if service.crashed:
                    self._exit(service)
        super().wakeup()

    def _stopping(self) -> bool:
        # Faust cancels every actor before it stops the agents (AgentManager.stop), which
        # looks like a crash; the worker or the app above has begun stopping by then.
        node: NodeT[Any] | None = self.beacon
        while node is not None:
            if isinstance(node.data, mode.Service) and node.data.should_stop:
                return True
            node = node.parent
        return False

    def _exit(self, actor: mode.ServiceT) -> None:
        agent = getattr(getattr(actor, "agent", None), "name", repr(actor))
        in_a_row = self.crashes.note() if self.crashes is not None else None
        logger.critical(
            "agent crashed: the worker exits for its supervisor to start a successor",
            extra={
                "agent": agent,
                "error": repr(actor.crash_reason),
                "exit_code": EXIT_AGENT_CRASHED,
                "crashes_in_a_row": in_a_row,
            },
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(EXIT_AGENT_CRASHED)
