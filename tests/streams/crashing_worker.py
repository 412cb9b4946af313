"""`heterdaad worker` whose verify_alarms agent has its task cancelled on SIGUSR2:
`python -m tests.streams.crashing_worker`. A test's stand-in for a stage that dies."""

from __future__ import annotations

import signal

from assembly.cli import app as cli
from streams.app import Worker

AGENT = "verify_alarms"
KILL_SIGNAL = signal.SIGUSR2


def _kill_the_agent(worker: Worker) -> None:
    agent = next(a for name, a in worker.app.agents.items() if name.endswith(AGENT))
    # Reaching into Faust on purpose: the task itself dies, as an unhandled error would end it.
    for actor in agent._actors:
        actor.actor_task.cancel()


def main() -> None:
    started = Worker.on_started

    async def on_started(self: Worker) -> None:
        # After mode's own handlers (SIGUSR2 would start its debugger).
        self.loop.add_signal_handler(KILL_SIGNAL, _kill_the_agent, self)
        await started(self)

    Worker.on_started = on_started  # type: ignore[method-assign,assignment]
    cli(["worker"])


if __name__ == "__main__":
    main()
