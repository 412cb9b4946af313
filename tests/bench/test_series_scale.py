"""The series stage's cost per report as one series grows (bench/series_scale.py)."""

from __future__ import annotations

import pytest

from bench.series_scale import main, seconds_per_report
from heterdaad.settings import Settings


def test_every_report_timed_joins_the_one_series() -> None:
    assert seconds_per_report(3, 2, Settings(_env_file=None)) > 0


def test_the_table_has_a_row_per_size(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["series_scale", "--sizes", "2", "4", "--batch", "1"])
    main()
    rows = capsys.readouterr().out.splitlines()
    assert rows[2].startswith("| 2 |") and rows[2].endswith("| 1.0 |")
    assert rows[3].startswith("| 4 |") and len(rows) == 4
