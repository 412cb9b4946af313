"""Solved cases for the series fit (streams/series_cases.py): the file, the store, the pairs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from heterdaad.thresholds.series import SeriesThresholds
from streams.series_cases import (
    ListedRobbery,
    Problem,
    Receipt,
    SolvedRobbery,
    StoredEvent,
    case_examples,
    parse_cases,
    resolve,
    stored_reports,
)
from streams.series_scoring import reported_twice
from tests.streams.test_link_series import crew_report, east

DEFAULT = SeriesThresholds()
A, B, C, D = (uuid.UUID(int=n) for n in (1, 2, 3, 4))


def test_a_dutch_excel_file_with_notes_is_read() -> None:
    # Semicolons, columns in another order and in capitals, a column of the analyst's own,
    # a robbery named by its CBL melding instead of its event id, and a blank last row.
    text = (f"Case;Notitie;EVENT_ID;Melding\nPL-1;aanhouding mei;{A};\nPL-1;;{B};\n"
            "PL-2;;;CBL-2026-0042\n;;;\n")  # fmt: skip
    listed, problems = parse_cases(text)
    assert problems == []
    assert listed == [ListedRobbery(2, "PL-1", event_id=A), ListedRobbery(3, "PL-1", event_id=B),
                      ListedRobbery(4, "PL-2", melding="CBL-2026-0042")]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # No header at all.
        ("", [Problem(1, "(header)", "the file is empty; the first row names the columns")]),
        # The case column is missing: nothing is read.
        (f"event_id\n{A}\n", [Problem(1, "case", "column missing from the header")]),
        # Neither way of naming the robbery.
        ("case,datum\nPL-1,2026-05-01\n",
         [Problem(1, "event_id", "column missing from the header (or give melding)")]),
        # Not a UUID; the text itself is never echoed.
        ("event_id,case\nmelding 123,PL-1\n", [Problem(2, "event_id", "not an event id (a UUID)")]),
        # A row naming no robbery.
        ("event_id,melding,case\n,,PL-1\n",
         [Problem(2, "event_id", "empty: give the event id or the CBL melding number")]),
        # A robbery without its case.
        (f"event_id,case\n{A},\n", [Problem(2, "case", "empty: name the case it was solved in")]),
        # A case label longer than a case number.
        (f"event_id,case\n{A},{'x' * 101}\n", [Problem(2, "case", "longer than 100 characters")]),
    ],
)  # fmt: skip
def test_a_row_that_cannot_be_used_is_named_by_line_column_and_reason(
    text: str, expected: list[Problem]
) -> None:
    _, problems = parse_cases(text)
    assert problems == expected


def test_meldingen_become_event_ids_through_their_import() -> None:
    receipts = [Receipt("jumbo", "100", A), Receipt("ah", "200", B), Receipt("plus", "200", C),
                Receipt("spar", "300", D)]  # fmt: skip
    listed = [
        ListedRobbery(2, "PL-1", melding="100"),  # one import: no organisation needed
        ListedRobbery(3, "PL-1", melding="200", organisation="plus"),
        ListedRobbery(4, "PL-1", melding="200"),  # two organisations' number 200
        ListedRobbery(5, "PL-1", melding="999"),  # never imported
        ListedRobbery(6, "PL-1", melding="300", organisation="jumbo"),  # another's number
        ListedRobbery(7, "PL-1", event_id=A),  # the same robbery again, in the same case
        ListedRobbery(8, "PL-2", event_id=C),  # the same robbery again, in another case
    ]
    solved, problems = resolve(listed, receipts)
    assert solved == [SolvedRobbery(2, A, "PL-1"), SolvedRobbery(3, C, "PL-1")]
    assert problems == [
        Problem(4, "organisation",
                "the melding number was imported for 2 organisations: name the organisation"),
        Problem(5, "melding", "no CBL melding with this number was imported"),
        Problem(6, "melding", "no CBL melding with this number was imported for this organisation"),
        Problem(8, "case", "the robbery is in another case on line 3"),
    ]  # fmt: skip


def test_the_store_must_hold_each_listed_report() -> None:
    report = crew_report(east(0), 5)
    purged = datetime(2026, 11, 1, tzinfo=UTC)
    d, e = uuid.UUID(int=14), uuid.UUID(int=15)
    listed = [SolvedRobbery(2, report.event_id, "PL-1"), SolvedRobbery(3, A, "PL-1"),
              SolvedRobbery(4, B, "PL-1"), SolvedRobbery(5, C, "PL-1"),
              SolvedRobbery(6, d, "PL-1"), SolvedRobbery(7, e, "PL-2")]  # fmt: skip
    stored = {
        report.event_id: StoredEvent("incident_report", report.model_dump_json(), None),
        B: StoredEvent("alarm_activation", "{}", None),
        C: StoredEvent("incident_report", None, purged),
        d: StoredEvent("incident_report", '{"event_id": "not a report"}', None),
    }
    found, problems = stored_reports(listed, stored)
    assert found == [(report, "PL-1")]
    assert problems == [
        Problem(3, "event_id", "no event with this id is stored"),
        Problem(4, "event_id", "the event is alarm_activation, not a robbery report"),
        Problem(5, "event_id", "the report was deleted by retention on 2026-11-01: remove the row"),
        Problem(6, "event_id", "the stored report no longer reads (5 problem(s))"),
        Problem(7, "event_id", "no event with this id is stored"),
    ]


def test_pairs_are_linked_within_a_case_and_unlinked_across_cases() -> None:
    one = crew_report(east(0), 9)
    two = crew_report(east(3), 6)
    other = crew_report(east(5), 5, offender_count=4)
    far_in_time = crew_report(east(6), 9 + DEFAULT.max_gap_days + 1)
    copy = one.model_copy(update={"event_id": uuid.uuid4()})  # the trade association's report
    examples = case_examples(
        [(one, "PL-1"), (two, "PL-1"), (other, "PL-2"), (far_in_time, "PL-1"), (copy, "PL-1")],
        DEFAULT, group_prefix="case", same_robbery=lambda a, b: reported_twice(a, b, DEFAULT),
    )  # fmt: skip
    # far_in_time meets nothing within the window; the copy pairs with all but its original.
    by_group = sorted((e.group, e.linked) for e in examples)
    assert by_group == sorted([
        ("case:PL-1", True),  # one, two
        ("case:PL-1", True),  # copy, two
        (f"case:{one.event_id}", False),  # one, other
        (f"case:{copy.event_id}", False),  # copy, other
        (f"case:{two.event_id}", False),  # two, other
    ])  # fmt: skip
    linked = [e for e in examples if e.linked]
    assert all(e.inputs["distance_km"] == pytest.approx(3, abs=0.1) for e in linked)
