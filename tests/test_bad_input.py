"""The bad-input corpus: every malformed landing file has an exact, explained outcome and nothing is lost."""

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from smartmarket.config import load_settings
from smartmarket.ingest.loader import ingest_kind
from tests.ingest_support import TX_HEADER, loaded, quarantined, tx_line, write_landing

NOW = datetime(2026, 1, 15)
GOOD = [tx_line("G1"), tx_line("G2", product="P2")]


@dataclass
class Case:
    content: str | bytes
    status: str
    counts: tuple[int, int, int, int]  # read, loaded, quarantined, duplicates
    reasons: list[str] = field(default_factory=list)  # substrings, one per quarantined row in row order
    message: str = ""  # substring of the file's message
    tenants: list[str] | None = None
    name: str = "case.csv"


def body(*lines: str) -> str:
    return "\n".join([TX_HEADER, *lines]) + "\n"


CASES: dict[str, Case] = {
    "empty file": Case("", "rejected", (0, 0, 0, 0), message="file is empty"),
    "header only": Case(TX_HEADER + "\n", "loaded", (0, 0, 0, 0), message="no data rows"),
    "wrong delimiter": Case(body(*GOOD).replace(",", ";"), "loaded", (2, 2, 0, 0),
                            message="delimiter ';' detected"),
    "missing required column": Case(
        "\n".join(",".join(line.split(",")[:8] + line.split(",")[9:]) for line in body(*GOOD).splitlines()),
        "rejected", (2, 0, 2, 0),
        reasons=["missing required column(s): unit_price"] * 2, message="missing required column(s): unit_price"),
    "renamed column": Case(body(*GOOD).replace("unit_price", "price", 1), "rejected", (2, 0, 2, 0),
                           reasons=["missing required column(s): unit_price"] * 2,
                           message="missing unit_price while price is unexpected"),
    "extra column": Case("\n".join(line + (",store" if i == 0 else ",S9") for i, line in
                                   enumerate(body(*GOOD).splitlines())), "loaded", (2, 2, 0, 0),
                         message="extra column(s) kept in _extra_columns: store"),
    "non-UTF-8 bytes": Case(body(*GOOD, tx_line("B1")).encode().replace(b"Widget", b"Wid\xe9get", 1),
                            "loaded", (3, 2, 1, 0), reasons=["contains bytes that are not valid UTF-8"]),
    "UTF-8 with BOM": Case(b"\xef\xbb\xbf" + body(*GOOD).encode(), "loaded", (2, 2, 0, 0)),
    "quoted newline in a field": Case(body(tx_line("Q1").replace("Widget", '"Wid\nget, large"'), *GOOD),
                                      "loaded", (3, 3, 0, 0)),
    "1 MB field": Case(body(tx_line("M1").replace("Widget", "x" * 1_048_576), *GOOD), "loaded", (3, 2, 1, 0),
                       reasons=["field 6 is 1,048,576 characters long (limit 10,000)"]),
    "mixed date formats": Case(body(tx_line("D1", ts="2025-03-01"), tx_line("D2", ts="03/15/2025"),
                                    tx_line("D3", ts="2025-03-02T08:30:00")), "loaded", (3, 2, 1, 0),
                               reasons=["transaction_ts '03/15/2025' is not a valid date"]),
    "date in the future": Case(body(tx_line("F1", ts="2027-06-01"), *GOOD), "loaded", (3, 2, 1, 0),
                               reasons=["transaction_ts 2027-06-01 00:00:00 is in the future"]),
    "negative and zero prices": Case(body(tx_line("N1", unit_price="-3"), tx_line("Z1", unit_price="0")),
                                     "loaded", (2, 1, 1, 0), reasons=["unit_price -3.0 is negative"]),
    "zero quantity": Case(body(tx_line("Q0", quantity="0"), *GOOD), "loaded", (3, 2, 1, 0),
                          reasons=["quantity is 0 (neither a sale nor a return)"]),
    "non-numeric amount": Case(body(tx_line("A1", amount="ten"), *GOOD), "loaded", (3, 2, 1, 0),
                               reasons=["amount 'ten' is not a number"]),
    "duplicate rows within a file": Case(body(*GOOD, GOOD[0], GOOD[0]), "loaded", (4, 2, 0, 2)),
    "unknown tenant": Case(body(tx_line("T1", tenant="mystery"), *GOOD), "loaded", (3, 2, 1, 0),
                           reasons=["unknown tenant 'mystery' (known: jeweller_01, shop)"],
                           tenants=["shop", "jeweller_01"]),
    "truncated last line": Case(body(*GOOD) + "shop,G3,2025-03-01,C1,P", "loaded", (3, 2, 1, 0),
                                reasons=["row has 5 fields, header has 12"]),
    "binary file with a .csv name": Case(bytes(range(256)) * 8, "rejected", (0, 0, 0, 0),
                                         message="not a text CSV file (binary content)"),
}


@pytest.mark.parametrize("case_name", list(CASES))
def test_bad_input_outcome(case_name: str, data_dir: Path) -> None:
    case = CASES[case_name]
    write_landing(data_dir, "transactions", case.name, case.content)
    settings = load_settings()

    result = ingest_kind(settings, "transactions", now=NOW, tenants=case.tenants)

    f = result.files[0]
    assert f.status == case.status, f
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_duplicate) == case.counts, f
    assert f.balanced
    assert case.message in f.message
    if case.status == "rejected":
        assert f.message.startswith("transactions/case.csv")  # names the file
    if f.rows_loaded:
        assert len(loaded(settings)) == f.rows_loaded
    q = quarantined(settings) if f.rows_quarantined else None
    for i, expected in enumerate(case.reasons):
        assert expected in q["_reason"].iloc[i], q["_reason"].tolist()
        # The message a user sees names the file, the row and the problem.
        assert f.examples[i] == f"transactions/case.csv row {q['_row_number'].iloc[i]}: {q['_reason'].iloc[i]}"


def test_same_file_dropped_twice_under_another_name(data_dir: Path) -> None:
    content = body(*GOOD, tx_line("X", quantity="?"))
    write_landing(data_dir, "transactions", "monday.csv", content)
    write_landing(data_dir, "transactions", "monday (1).csv", content)
    settings = load_settings()

    result = ingest_kind(settings, "transactions", now=NOW)

    counts = {f.source_file: (f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_duplicate)
              for f in result.files}
    # Files are taken in name order: "monday (1).csv" sorts first and loads; the other is all duplicates.
    assert counts == {"transactions/monday (1).csv": (3, 2, 1, 0), "transactions/monday.csv": (3, 0, 0, 3)}


def test_extra_column_is_kept_in_the_raw_row(data_dir: Path) -> None:
    write_landing(data_dir, "transactions", "case.csv", CASES["extra column"].content)
    settings = load_settings()
    ingest_kind(settings, "transactions", now=NOW)
    assert loaded(settings)["_extra_columns"].tolist() == ['{"store": "S9"}'] * 2


def test_a_bad_file_does_not_stop_the_good_ones(data_dir: Path) -> None:
    write_landing(data_dir, "transactions", "a_binary.csv", bytes(range(256)))
    write_landing(data_dir, "transactions", "b_good.csv", body(*GOOD))
    settings = load_settings()
    result = ingest_kind(settings, "transactions", now=NOW)
    assert [f.status for f in result.files] == ["rejected", "loaded"]
    assert len(loaded(settings)) == 2
