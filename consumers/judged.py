"""What an analyst's judgement is of (`judgement.kind`, docs/desk.md): one name per kind, for
the desk that stores judgements and the checks and reports that read them."""

from __future__ import annotations

from enum import StrEnum


class JudgedKind(StrEnum):
    SERIES = "series"
    # A reconnaissance pattern: is this a crew choosing its target?
    RECONNAISSANCE_WARNING = "reconnaissance_warning"
    # A robbery linked back to reconnaissance (a `recon-link:` update of a warning,
    # docs/reconnaissance.md): was this robbery preceded by this reconnaissance? A verdict on
    # the link, not on the pattern, so it is kept apart from the patterns' own.
    RECONNAISSANCE_LINK = "reconnaissance_link"
    HOTSPOT = "hotspot"
