"""The intake API: alarm activations, incident reports and sightings in over HTTP, onto Kafka."""

from producers.api.app import create_app
from producers.api.limits import ApiLimits

__all__ = ["ApiLimits", "create_app"]
