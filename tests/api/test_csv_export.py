"""CSV cells a spreadsheet would run as formulas are neutralised; numbers and dates stay what they are."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import pytest

from serving.csv_export import csv_lines, neutralise


@pytest.mark.parametrize("text", ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", "=HYPERLINK(\"a\",\"b\")"])
def test_text_starting_like_a_formula_is_prefixed(text: str) -> None:
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize(("value", "shown"), [("Dormant", "Dormant"), ("a=b", "a=b"), (-12.5, "-12.5"), (3, "3"),
                                              (None, ""), (True, "true"), (date(2025, 1, 2), "2025-01-02"),
                                              (datetime(2025, 1, 2), "2025-01-02")])
def test_other_values_are_written_as_they_are(value: object, shown: str) -> None:
    assert neutralise(value) == shown


def test_csv_lines_round_trip_through_a_csv_reader() -> None:
    text = "".join(csv_lines(["id", "note", "amount"], [[["c1", 'say "hi", ok', -1.5]], [["=evil", "\n", 2]]]))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["id", "note", "amount"], ["c1", 'say "hi", ok', "-1.5"], ["'=evil", "\n", "2"]]
