"""Where the services without a web server of their own answer /metrics, /healthz and /readyz."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MetricsSettings(BaseModel):
    """Ports of the health and metrics server of each consumer (HETERDAAD_METRICS__<FIELD>).

    The API and the desk answer the same paths on their own port. 0 turns a server off; a
    port that is taken is logged and skipped, never fatal: observing must not stop alerting.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", description="Address the health and metrics servers bind.")
    worker_port: int = Field(9101, ge=0, le=65535, description="The worker's (0: off).")
    sink_port: int = Field(9102, ge=0, le=65535, description="The sink's (0: off).")
    notify_port: int = Field(9103, ge=0, le=65535, description="Notify's (0: off).")
    sia_port: int = Field(9104, ge=0, le=65535, description="The SIA receiver's (0: off).")
    check_timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=60,
        description="How long /readyz waits for the database or the broker (and /metrics for "
        "the broker's offsets) before it answers not ready.",
    )
