"""Alert text: Dutch by default, English on request, every vocabulary fully translated."""

from __future__ import annotations

from enum import StrEnum

import pytest

from consumers.alert_text import BRANCH_TYPE, KIND, SEVERITY, UNIT, summary
from schemas.alerts import AlertKind, Severity
from schemas.common import BranchType, PoliceUnit
from tests import factories


def test_dutch_by_default() -> None:
    alert = factories.alert(severity=Severity.CRITICAL, branch_types_at_risk=[BranchType.JEWELLER])
    assert summary(alert) == (
        "[ZEER URGENT] Overval gemeld · eenheid Amsterdam · binnen 2.0 km (52.3731, 4.8926)"
        " · let op: juweliers"
    )


def test_english_selectable() -> None:
    alert = factories.alert(branch_types_at_risk=[BranchType.SUPERMARKET])
    assert summary(alert, "en").startswith("[high] Robbery reported · unit Amsterdam")
    assert summary(alert, "en").endswith("at risk: supermarkets")


@pytest.mark.parametrize(
    ("table", "members"),
    [
        (KIND, AlertKind),  # every alert kind has a name
        (SEVERITY, Severity),  # every severity has a word
        (BRANCH_TYPE, BranchType),  # every branch type can be warned
    ],
)
def test_every_member_in_both_languages(
    table: dict[StrEnum, dict[str, str]], members: type[StrEnum]
) -> None:
    for member in members:
        assert set(table[member]) == {"nl", "en"}


def test_every_unit_named() -> None:
    assert set(UNIT) == set(PoliceUnit)
