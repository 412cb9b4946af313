"""SIA DC-09 alarm receiver: panic, hold-up and duress signals from alarm centres and panels."""

from producers.sia.receiver import SiaReceiver

__all__ = ["SiaReceiver"]
