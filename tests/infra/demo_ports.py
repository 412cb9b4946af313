"""Free ports for a demo under test: its defaults are those of `infra up`, busy on a test box."""

from __future__ import annotations

import socket
from contextlib import ExitStack

PORT_VARIABLES = ("HETERDAAD_KAFKA_PORT", "HETERDAAD_POSTGRES_PORT", "HETERDAAD_API_PORT",
                  "HETERDAAD_SIA_PORT", "HETERDAAD_DESK_PORT",
                  # The parts' health and metrics servers, which the demo checks too.
                  "HETERDAAD_METRICS__WORKER_PORT", "HETERDAAD_METRICS__SINK_PORT",
                  "HETERDAAD_METRICS__NOTIFY_PORT", "HETERDAAD_METRICS__SIA_PORT")  # fmt: skip


def free_port_env() -> dict[str, str]:
    """One distinct free loopback port per port setting of the demo."""
    with ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in PORT_VARIABLES]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return {
            name: str(probe.getsockname()[1])
            for name, probe in zip(PORT_VARIABLES, probes, strict=True)
        }
