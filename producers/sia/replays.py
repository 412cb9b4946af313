"""Replay protection for encrypted frames: the same cipher text under another sequence number.

The sequence number stands outside the encryption, so a frame captured on the wire can be sent
again with a new one and a fresh CRC; the timestamp test alone lets that through for as long as
the DC-09 window lasts. Encrypting twice never gives the same cipher text (the pad is random),
so within the window one (account, timestamp, cipher digest) is one message. The panel's own
retransmission keeps its sequence number and is answered as before (same event id).
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from datetime import datetime, timedelta

logger = logging.getLogger(__name__)


class ReplayGuard:
    """Remembers each encrypted message taken in, for as long as its timestamp is acceptable."""

    def __init__(self, window: timedelta, max_entries: int = 200_000) -> None:
        self._window = window
        self._max_entries = max_entries
        # (account, timestamp, digest) -> (sequence, forget after); in order of forgetting.
        self._seen: OrderedDict[tuple[str, datetime, str], tuple[str, datetime]] = OrderedDict()

    def replayed(
        self, account: str, stamped: datetime, cipher: str, sequence: str, now: datetime
    ) -> bool:
        """True when this message was taken in before under another sequence number; else it is
        remembered (a retransmission with the same sequence number is not a replay)."""
        self._forget_before(now)
        key = (account.upper(), stamped, hashlib.sha256(cipher.upper().encode()).hexdigest())
        seen = self._seen.get(key)
        if seen is not None:
            return seen[0] != sequence
        self._seen[key] = (sequence, max(stamped, now) + self._window)
        if len(self._seen) > self._max_entries:
            # Only frames that decrypted under a site's key get here, so this takes a panel
            # gone mad or a leaked key; keep memory bounded and say so.
            logger.warning("sia replay memory full, forgetting the oldest message")
            self._seen.popitem(last=False)
        return False

    def _forget_before(self, now: datetime) -> None:
        while self._seen and next(iter(self._seen.values()))[1] < now:
            self._seen.popitem(last=False)
