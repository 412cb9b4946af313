"""The intake API: alarm activations, incident reports and sightings in over HTTP, onto Kafka.

Its routers are mounted, beside those of consumers/, by the app in assembly/api.py.
"""

from producers.api.limits import ApiLimits

__all__ = ["ApiLimits"]
