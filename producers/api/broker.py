"""The intake's Kafka producer, which now lives in the event layer (heterdaad/events/).

Kept so `from producers.api.broker import BrokerLink` goes on working; new code imports
heterdaad.events.
"""

from heterdaad.events.publisher import BrokerLink, BrokerUnavailable

__all__ = ["BrokerLink", "BrokerUnavailable"]
