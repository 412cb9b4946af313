"""Monthly digest for the retailer-police working group: HTML with charts and maps, and CSVs."""

from consumers.digest.period import Month
from consumers.digest.write import Progress, digest_stem, write_digest

__all__ = ["Month", "Progress", "digest_stem", "write_digest"]
