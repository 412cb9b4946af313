"""Which of our two languages a page speaks: a choice the browser names, or the one it prefers.

User-facing text is Dutch or English. The desk and /meld both take, in this order: an explicit
?lang=, the choice a cookie remembers, the browser's Accept-Language, the deployment's
HETERDAAD_LANGUAGE; `named` reads the first two, `preferred` the third.
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["nl", "en"]

# Pages whose language may come from the header or the cookie say so to caches.
VARY = "Accept-Language, Cookie"

# RFC 9110 12.5.4: a language range (RFC 4647) or "*", with an optional weight q=0..1, matched
# on an element stripped of its blanks: a blank any two parts of the pattern could take made
# a long run of them quadratic (an unauthenticated header holding the event loop).
_RANGE = re.compile(
    r"(?P<range>\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)"
    r"(?:\s*;\s*[qQ]=(?P<q>0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?))?"
)


def named(value: str | None) -> Language | None:
    """A language named outright (?lang=, a cookie), if it is one we speak."""
    return "nl" if value == "nl" else "en" if value == "en" else None


def preferred(accept_language: str | None) -> Language | None:
    """The language of ours the browser's Accept-Language weights highest, or None.

    "en-GB" counts as English. A tie goes to the language listed first, since browsers list
    the user's languages in the order chosen. Languages we do not speak, q=0 and malformed
    elements do not choose, nor does "*" alone: the caller's default does. "*" beside one of ours
    refused (q=0) chooses the other.
    """
    if not accept_language:
        return None
    # Per language its highest weight, and how early in the header that weight was given.
    ranks: dict[Language, tuple[float, int]] = {}
    anything = 0.0  # the weight of "*": any language the header does not name
    for position, element in enumerate(accept_language.split(",")):
        found = _RANGE.fullmatch(element.strip())
        if found is None:
            continue
        weight = float(found["q"]) if found["q"] else 1.0
        if found["range"] == "*":
            anything = max(anything, weight)
            continue
        language = named(found["range"].split("-", 1)[0].lower())
        if language is None:
            continue
        rank = (weight, -position)
        ranks[language] = max(rank, ranks.get(language, rank))
    best = max(ranks, key=ranks.__getitem__, default=None)
    if best is not None and ranks[best][0] > 0:
        return best
    # Nothing of ours asked for by name; "*" takes the one the header did not refuse, so that
    # "nl;q=0, *" is not answered in the Dutch it refused because the default is Dutch.
    ours: tuple[Language, ...] = ("nl", "en")
    unnamed = [language for language in ours if language not in ranks]
    return unnamed[0] if anything > 0 and len(unnamed) == 1 else None
