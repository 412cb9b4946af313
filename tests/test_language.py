"""Which language a page speaks: a language named outright, or the one the browser prefers."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heterdaad.language import named, preferred

if TYPE_CHECKING:
    from heterdaad.language import Language


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("en", "en"),
        ("nl", "nl"),
        ("EN-gb", "en"),  # a region counts as its language, in any case
        ("nl-BE,nl;q=0.9", "nl"),
        ("en-GB;q=0.9", "en"),
        ("zh-CN,en-GB;q=0.9,nl;q=0.8", "en"),  # the first we speak, not the first listed
        ("nl;q=0.5, en;q=0.8", "en"),  # weights, not order, decide
        ("en;q=0.5, nl", "nl"),  # no weight is q=1
        ("de, *;q=0.5, en;q=0.1", "en"),
        ("en, nl", "en"),  # a tie goes to the one listed first
        ("nl, en", "nl"),
        ("en-GB;q=0.5, nl;q=0.8, en;q=0.8", "nl"),  # ... first at that weight
        ("en-GB;q=0.8, en-US", "en"),  # the highest weight of a language counts
        ("en;q=0, nl;q=0.1", "nl"),  # q=0: not acceptable
        ("en;Q=0.7, nl ; q=0.6", "en"),  # q is case-insensitive, spaces around ; allowed
        ("en;q=1.000, nl;q=0.999", "en"),
        ("nl;q=0, *", "en"),  # "*" is any language but the one refused, not the default
        ("en;q=0, *;q=0.5", "nl"),
    ],
)
def test_preferred_by_quality(header: str, language: Language) -> None:
    assert preferred(header) == language


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "*",  # any language: the deployment's default decides
        "de, fr;q=0.9",  # none of ours
        "en;q=0",  # refused outright
        "en;q=0, nl;q=0.000",
        "en;q=0, nl;q=0, *",  # both refused by name: "*" means some other language
        "nl;q=0, *;q=0",
        "nl-;q=0.5",  # malformed elements never choose ...
        "en;q=2",  # a weight above 1
        "en;q=0.5000",  # more than three decimals
        "en;q=abc",
        "en;level=1",  # Accept-Language has no other parameters
        "en;q=",
        ";;;,,,",
        "engelsengels-en",  # a subtag longer than 8
        "\x00en",
        "é",
        "en" + "-x" * 5000 + ";q=0.5x",  # long and malformed, still answered
    ],
)
def test_nothing_preferred_falls_through(header: str | None) -> None:
    assert preferred(header) is None


def test_malformed_elements_are_skipped_not_the_header() -> None:
    assert preferred("en;q=2, nl;q=0.3") == "nl"
    assert preferred(";q=1, , en-;q=1, en;q=0.2") == "en"


_PIECES = st.sampled_from(["en", "nl-BE", "*", ";", "q=", "0.5", "1", ",", " ", "-"])


@given(st.text() | st.lists(_PIECES).map("".join))
def test_any_header_is_answered(header: str) -> None:
    # Whatever a client sends, a language or None: never an exception, a 500 for a page.
    assert preferred(header) in {"nl", "en", None}


@pytest.mark.parametrize(
    "header",
    [
        "en" + " " * 16_000 + "x",  # the blanks around a range were matched twice over
        "en" + " " * 16_000 + ";q=0.5x",
    ],
)
def test_a_long_header_is_answered_at_once(header: str) -> None:
    # /meld/login and the desk's login read the header before anyone logs in; h11 admits a
    # head of 16 KiB. One element of blanks took the pattern time quadratic in its length
    # (1.5 s for 16,000), during which the API's event loop served nobody else.
    started = time.perf_counter()
    assert preferred(header) is None
    assert time.perf_counter() - started < 0.1


@pytest.mark.parametrize(
    ("value", "language"),
    [("nl", "nl"), ("en", "en"), ("EN", None), ("de", None), ("", None), (None, None)],
)
def test_named(value: str | None, language: Language | None) -> None:
    assert named(value) == language
