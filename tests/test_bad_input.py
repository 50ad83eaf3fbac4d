"""The bad-input corpus: every malformed landing file has an exact, explained outcome and nothing is lost.

Each case lands one file and asserts the file's status, its exact accounting (read = loaded + quarantined +
duplicates + skipped by the mapping), and every quarantined row by row number and full reason.
"""

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from smartmarket.config import load_settings
from smartmarket.ingest.loader import ingest_kind
from tests.ingest_support import (
    TX_HEADER,
    loaded,
    parquet_bytes,
    parquet_damaged_after,
    quarantined,
    tx_line,
    write_landing,
    xlsx_bytes,
)

NOW = datetime(2026, 1, 15)
GOOD = [tx_line("G1"), tx_line("G2", product="P2")]
MONEY = "is beyond the plausible money bound 1,000,000,000 (SMARTMARKET_MAX_MONEY)"
EARLIEST = "is before the earliest plausible date 1900-01-01 (SMARTMARKET_EARLIEST_DATE)"
SLUG = ("is not a tenant id (lowercase letters, digits, '_' and '-', starting with a letter or digit, "
        "at most 64 characters)")
INVENTORY_HEADER = "snapshot_date,tenant_id,product_id,on_hand,unit_cost,lead_time_days"
METAL_HEADER = "date,metal,purity,price_per_gram,currency,source"


@dataclass
class Case:
    content: str | bytes
    status: str
    counts: tuple[int, int, int, int, int]  # read, loaded, quarantined, duplicates, skipped by the mapping
    quarantine: list[tuple[int, str]] = field(default_factory=list)  # (row number, exact reason), in row order
    message: str = ""  # substring of the file's message
    tenants: list[str] | None = None
    name: str = "case.csv"
    kind: str = "transactions"
    env: dict[str, str] = field(default_factory=dict)
    mapping: str | None = None  # YAML written to <data dir>/mappings/case.yml
    loaded: dict[str, list] = field(default_factory=dict)  # column -> values of the loaded rows, in row order


def body(*lines: str) -> str:
    return "\n".join([TX_HEADER, *lines]) + "\n"


def rows_of(header: str, *lines: str) -> str:
    return "\n".join([header, *lines]) + "\n"


_XLSX_GOOD = xlsx_bytes({"Sheet1": [
    TX_HEADER.split(","),
    ["shop", "X1", datetime(2025, 3, 1, 7, 45), 13085.0, 85123, "Widget", "misc", 2, 2.55, None, "card", "GBP"],
    ["shop", "X2", "2025-03-02", "C9", "P2", "Widget", "misc", 1.5, 3, None, "card", "GBP"],
    ["shop", "X3", "31/31/2025", "C9", "P2", "Widget", "misc", 1, 3, None, "card", "GBP"],
]}, stored_as={"13085": "13085.0"})

CASES: dict[str, Case] = {
    # -- file shape ----------------------------------------------------------------------------------
    "empty file": Case("", "rejected", (0, 0, 0, 0, 0), message="file is empty"),
    "header only": Case(TX_HEADER + "\n", "loaded", (0, 0, 0, 0, 0), message="no data rows"),
    "wrong delimiter": Case(body(*GOOD).replace(",", ";"), "loaded", (2, 2, 0, 0, 0),
                            message="delimiter ';' detected"),
    "missing required column": Case(
        "\n".join(",".join(line.split(",")[:8] + line.split(",")[9:]) for line in body(*GOOD).splitlines()),
        "rejected", (2, 0, 2, 0, 0),
        quarantine=[(1, "missing required column(s): unit_price"), (2, "missing required column(s): unit_price")],
        message="missing required column(s): unit_price"),
    "renamed column": Case(body(*GOOD).replace("unit_price", "price", 1), "rejected", (2, 0, 2, 0, 0),
                           quarantine=[(1, "missing required column(s): unit_price"),
                                       (2, "missing required column(s): unit_price")],
                           message="missing unit_price while price is unexpected"),
    "extra column": Case("\n".join(line + (",store" if i == 0 else ",S9") for i, line in
                                   enumerate(body(*GOOD).splitlines())), "loaded", (2, 2, 0, 0, 0),
                         message="extra column(s) kept in _extra_columns: store"),
    "non-UTF-8 bytes": Case(body(*GOOD, tx_line("B1")).encode().replace(b"Widget", b"Wid\xe9get", 1),
                            "loaded", (3, 2, 1, 0, 0),
                            quarantine=[(1, "field 6 contains bytes that are not valid UTF-8")]),
    # A BOM left in the header would rename `tenant_id` (rows under the default tenant, the column in extras).
    "UTF-8 with BOM": Case(b"\xef\xbb\xbf" + body(*GOOD).encode(), "loaded", (2, 2, 0, 0, 0),
                           loaded={"tenant_id": ["shop", "shop"], "_extra_columns": [None, None]}),
    "quoted newline in a field": Case(body(tx_line("Q1").replace("Widget", '"Wid\nget, large"'), *GOOD),
                                      "loaded", (3, 3, 0, 0, 0)),
    "1 MB field": Case(body(tx_line("M1").replace("Widget", "x" * 1_048_576), *GOOD), "loaded", (3, 2, 1, 0, 0),
                       quarantine=[(1, "field 6 is 1,048,576 characters long (limit 10,000)")]),
    "truncated last line": Case(body(*GOOD) + "shop,G3,2025-03-01,C1,P", "loaded", (3, 2, 1, 0, 0),
                                quarantine=[(3, "row has 5 fields, header has 12")]),
    "binary file with a .csv name": Case(bytes(range(256)) * 8, "rejected", (0, 0, 0, 0, 0),
                                         message="not a text CSV file (binary content)"),
    # -- values --------------------------------------------------------------------------------------
    "mixed date formats": Case(
        body(tx_line("D1", ts="2025-03-01"), tx_line("D2", ts="03/15/2025"), tx_line("D3", ts="2025-03-02T08:30:00")),
        "loaded", (3, 2, 1, 0, 0),
        quarantine=[(2, "transaction_ts '03/15/2025' is not a valid date (expected ISO YYYY-MM-DD[ HH:MM:SS])")]),
    "date in the future": Case(body(tx_line("F1", ts="2027-06-01"), *GOOD), "loaded", (3, 2, 1, 0, 0),
                               quarantine=[(1, "transaction_ts 2027-06-01 00:00:00 is in the future")]),
    "negative and zero prices": Case(body(tx_line("N1", unit_price="-3"), tx_line("Z1", unit_price="0")),
                                     "loaded", (2, 1, 1, 0, 0), quarantine=[(1, "unit_price -3.0 is negative")]),
    "zero quantity": Case(body(tx_line("Q0", quantity="0"), *GOOD), "loaded", (3, 2, 1, 0, 0),
                          quarantine=[(1, "quantity is 0 (neither a sale nor a return)")]),
    "non-numeric amount": Case(body(tx_line("A1", amount="ten"), *GOOD), "loaded", (3, 2, 1, 0, 0),
                               quarantine=[(1, "amount 'ten' is not a number")]),
    "unknown tenant": Case(body(tx_line("T1", tenant="mystery"), *GOOD), "loaded", (3, 2, 1, 0, 0),
                           quarantine=[(1, "unknown tenant 'mystery' (known: jeweller_01, shop)")],
                           tenants=["shop", "jeweller_01"]),
    # Identical lines in one file are separate items (two equal stones, two equal receipt lines).
    "identical rows within a file": Case(body(*GOOD, GOOD[0], GOOD[0]), "loaded", (4, 4, 0, 0, 0),
                                         loaded={"invoice_id": ["G1", "G2", "G1", "G1"]}),
    # -- hostile numbers -----------------------------------------------------------------------------
    "integer beyond 64 bits": Case(
        body(tx_line("H1", quantity="99999999999999999999"), *GOOD, tx_line("H2", quantity="-20000000")),
        "loaded", (4, 2, 2, 0, 0),
        quarantine=[(1, "quantity '99999999999999999999' is outside the plausible range -10,000,000..10,000,000"),
                    (4, "quantity '-20000000' is outside the plausible range -10,000,000..10,000,000")]),
    "money beyond the plausible bound": Case(
        body(tx_line("M1", unit_price="1e308"), tx_line("M2", amount="5000000000"), tx_line("M3", unit_price="1e400"),
             tx_line("M4", unit_price="inf"), tx_line("M5", unit_price="NaN"), *GOOD),
        "loaded", (7, 2, 5, 0, 0),
        quarantine=[(1, f"unit_price '1e308' {MONEY}"), (2, f"amount '5000000000' {MONEY}"),
                    (3, "unit_price '1e400' is too large to be a number"),
                    (4, "unit_price 'inf' is too large to be a number"), (5, "unit_price 'NaN' is not a number")]),
    "derived amount beyond the bound": Case(
        body(tx_line("D1", quantity="9000000", unit_price="999999999"), *GOOD), "loaded", (3, 2, 1, 0, 0),
        quarantine=[(1, f"amount 9e+15 (quantity x unit_price) {MONEY}")]),
    "derived amount overflowing to infinity": Case(
        body(tx_line("D1", quantity="10", unit_price="1e308"), *GOOD), "loaded", (3, 2, 1, 0, 0),
        env={"SMARTMARKET_MAX_MONEY": "1.7e308"},
        quarantine=[(1, "amount inf (quantity x unit_price) is beyond the plausible money bound 1.7e+308 "
                        "(SMARTMARKET_MAX_MONEY)")]),
    "money bound set by the environment": Case(
        body(tx_line("B1", unit_price="150"), tx_line("B2", unit_price="50")), "loaded", (2, 1, 1, 0, 0),
        env={"SMARTMARKET_MAX_MONEY": "100"},
        quarantine=[(1, "unit_price '150' is beyond the plausible money bound 100 (SMARTMARKET_MAX_MONEY)")]),
    "inventory integers out of range": Case(
        rows_of(INVENTORY_HEADER, "2025-03-01,shop,P1,99999999999999999999,2.5,7", "2025-03-01,shop,P2,5,2.5,36500",
                "2025-03-01,shop,P3,5,1e12,7", "2025-03-01,shop,P4,5,2.5,7"),
        "loaded", (4, 1, 3, 0, 0), kind="inventory",
        quarantine=[(1, "on_hand '99999999999999999999' is outside the plausible range "
                        "-1,000,000,000..1,000,000,000"),
                    (2, "lead_time_days '36500' is outside the plausible range -3,650..3,650"),
                    (3, f"unit_cost '1e12' {MONEY}")]),
    "metal prices out of range": Case(
        rows_of(METAL_HEADER, "2025-03-03,gold,99999999999999999999,88.1,USD,x", "2025-03-03,gold,999,1e10,USD,x",
                "2025-03-03,gold,999,88.1,USD,x"),
        "loaded", (3, 1, 2, 0, 0), kind="metal_prices",
        quarantine=[(1, "purity '99999999999999999999' is too large for an integer column"),
                    (2, f"price_per_gram '1e10' {MONEY}")]),
    # -- identifiers ---------------------------------------------------------------------------------
    "tenant ids that are not slugs": Case(
        body(tx_line("T1", tenant="Shop One"), tx_line("T2", tenant="SHOP"), tx_line("T3", tenant="s" * 65),
             tx_line("T4", tenant="-shop"), tx_line("T5", tenant="grocer_01-b")),
        "loaded", (5, 2, 3, 0, 0),
        quarantine=[(1, f"tenant_id 'shop one' {SLUG}"), (3, f"tenant_id '{'s' * 40}' {SLUG}"),
                    (4, f"tenant_id '-shop' {SLUG}")],
        loaded={"tenant_id": ["shop", "grocer_01-b"]}),  # stored lower-case
    "ids with control or invisible characters": Case(
        body(tx_line("I1", customer="C\x1b1"), tx_line("I2", product="P\u200b1"), tx_line("I3\u202e"),
             tx_line("I4", customer="Ünïcödé-1"), tx_line("I5", customer="")),
        "loaded", (5, 2, 3, 0, 0),
        quarantine=[(1, "customer_id 'C\\u001b1' contains a control or invisible character"),
                    (2, "product_id 'P\\u200b1' contains a control or invisible character"),
                    (3, "invoice_id 'I3\\u202e' contains a control or invisible character")],
        loaded={"customer_id": ["Ünïcödé-1", None]}),  # blank customer: a walk-in sale
    "id longer than allowed": Case(body(tx_line("L" * 200), *GOOD), "loaded", (3, 2, 1, 0, 0),
                                   quarantine=[(1, f"invoice_id '{'L' * 40}' is 200 characters long (at most 128)")]),
    # -- dates ---------------------------------------------------------------------------------------
    "dates before the earliest plausible date": Case(
        body(tx_line("E1", ts="1899-12-30"), tx_line("E2", ts="0001-01-01"), tx_line("E3", ts="2999-01-01 10:00:00"),
             tx_line("E4", ts="1900-01-01")),
        "loaded", (4, 1, 3, 0, 0),
        quarantine=[(1, f"transaction_ts 1899-12-30 00:00:00 {EARLIEST}"),
                    (2, f"transaction_ts '0001-01-01' {EARLIEST}"),
                    (3, "transaction_ts '2999-01-01 10:00:00' is in the future")]),
    "earliest date set by the environment": Case(
        body(tx_line("E1", ts="2024-12-31 23:59:00"), tx_line("E2", ts="2025-01-01")), "loaded", (2, 1, 1, 0, 0),
        env={"SMARTMARKET_EARLIEST_DATE": "2025-01-01"},
        quarantine=[(1, "transaction_ts 2024-12-31 23:59:00 is before the earliest plausible date 2025-01-01 "
                        "(SMARTMARKET_EARLIEST_DATE)")]),
    # -- Excel and Parquet ---------------------------------------------------------------------------
    "Excel sheet with typed cells": Case(
        _XLSX_GOOD, "loaded", (3, 1, 2, 0, 0), name="case.xlsx",
        quarantine=[(2, "quantity '1.5' is not a whole number"),
                    (3, "transaction_ts '31/31/2025' is not a valid date (expected ISO YYYY-MM-DD[ HH:MM:SS])")],
        loaded={"customer_id": ["13085"], "product_id": ["85123"], "unit_price": [2.55], "amount": [5.1]}),
    "workbook that is not a zip file": Case(body(*GOOD), "rejected", (0, 0, 0, 0, 0), name="case.xlsx",
                                            message="not a readable Excel workbook (.xlsx): BadZipFile"),
    "truncated workbook": Case(_XLSX_GOOD[: len(_XLSX_GOOD) // 2], "rejected", (0, 0, 0, 0, 0), name="case.xlsx",
                               message="not a readable Excel workbook (.xlsx)"),
    "old binary .xls": Case(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "rejected", (0, 0, 0, 0, 0),
                            name="case.xls", message="old binary Excel (.xls) files cannot be read"),
    "Parquet with a bad value": Case(
        parquet_bytes({"tenant_id": ["shop", "shop"], "invoice_id": ["Q1", "Q2"],
                       "transaction_ts": [datetime(2025, 3, 1, 9, 0), datetime(2025, 3, 2)],
                       "customer_id": [13085.0, None], "product_id": ["P1", "P2"], "quantity": [2, 0],
                       "unit_price": [2.5, 1.0]}),
        "loaded", (2, 1, 1, 0, 0), name="case.parquet",
        quarantine=[(2, "quantity is 0 (neither a sale nor a return)")],
        loaded={"customer_id": ["13085"], "amount": [5.0]}),
    # The rows before the damage are loaded and counted; the message says where reading stopped.
    "Parquet damaged after its first row group": Case(
        parquet_damaged_after({"tenant_id": ["shop"] * 6, "invoice_id": [f"I{i}" for i in range(1, 7)],
                               "transaction_ts": ["2025-03-01"] * 6, "product_id": ["P1"] * 6,
                               "quantity": [1] * 6, "unit_price": [2.0] * 6}, good_rows=3),
        "rejected", (3, 3, 0, 0, 0), name="case.parquet",
        message="Parquet file cannot be read after data row 3: Couldn't deserialize thrift",
        loaded={"invoice_id": ["I1", "I2", "I3"]}),
    "corrupt Parquet": Case(b"PAR1" + bytes(range(200)) + b"PAR1", "rejected", (0, 0, 0, 0, 0), name="case.parquet",
                            message="not a readable Parquet file"),
    "CSV with a .parquet name": Case(body(*GOOD), "rejected", (0, 0, 0, 0, 0), name="case.parquet",
                                     message="not a readable Parquet file"),
    # -- mapping row rules ---------------------------------------------------------------------------
    "rows skipped by the mapping": Case(
        body(tx_line("S1", product="POST"), tx_line("S2", product="bank charges"), tx_line("S3", product="TEST-7"),
             *GOOD, tx_line("S4", product="POST", quantity="x")),
        "loaded", (6, 2, 0, 0, 4),
        mapping="kind: transactions\nfiles: case.csv\nrows:\n  skip:\n"
                "    - {column: product_id, values: [POST, BANK CHARGES]}\n"
                "    - {column: product_id, pattern: '^TEST'}\n",
        message="4 row(s) skipped by the mapping (3 x rows.skip: product_id in [POST, BANK CHARGES]; "
                "1 x rows.skip: product_id matches '^TEST')"),
    "melted wide file with bad cells": Case(
        rows_of("Date,USD,EUR", "2025-01-02,2650.5,2550", "2025-01-03,,", "2025-01-06,abc,-1"),
        "loaded", (6, 2, 2, 0, 2), kind="metal_prices",
        mapping="kind: metal_prices\nfiles: case.csv\nrename: {Date: date}\ndefaults: {metal: gold, purity: 999}\n"
                "melt: {columns: [USD, EUR], names_to: currency, values_to: price_per_gram}\n"
                "rows: {skip: {column: price_per_gram, blank: true}}\n",
        # a melted record carries its source row number; the reason names the column it came from
        quarantine=[(3, "price_per_gram 'abc' is not a number (melted column USD)"),
                    (3, "price_per_gram -1.0 is not positive (melted column EUR)")],
        loaded={"currency": ["USD", "EUR"], "price_per_gram": [2650.5, 2550.0]}),
}


@pytest.mark.parametrize("case_name", list(CASES))
def test_bad_input_outcome(case_name: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[case_name]
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    if case.mapping:
        (data_dir / "mappings").mkdir()
        (data_dir / "mappings" / "case.yml").write_text(case.mapping)
    write_landing(data_dir, case.kind, case.name, case.content)
    settings = load_settings()

    result = ingest_kind(settings, case.kind, now=NOW, tenants=case.tenants)

    assert len(result.files) == 1
    f = result.files[0]
    assert f.status == case.status, f
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_duplicate, f.rows_skipped) == case.counts, f
    assert f.balanced
    assert case.message in f.message
    if case.status == "rejected":
        assert f.message.startswith(f"{case.kind}/{case.name}")  # names the file
    rows = loaded(settings, case.kind) if f.rows_loaded else None
    if f.rows_loaded:
        assert len(rows) == f.rows_loaded
    for column, values in case.loaded.items():
        assert rows[column].tolist() == values
    q = quarantined(settings, case.kind) if f.rows_quarantined else None
    got = list(zip(q["_row_number"], q["_reason"], strict=True)) if q is not None else []
    assert got == case.quarantine
    # The message a user sees names the file, the row and the problem.
    assert f.examples == [f"{f.source_file} row {n}: {reason}" for n, reason in case.quarantine]


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
    write_landing(data_dir, "transactions", "b_corrupt.parquet", b"PAR1 not really")
    write_landing(data_dir, "transactions", "c_corrupt.xlsx", b"PK\x03\x04 not really")
    write_landing(data_dir, "transactions", "d_good.csv", body(*GOOD))
    write_landing(data_dir, "transactions", "~$d_good.xlsx", b"Excel's lock file while a workbook is open")
    settings = load_settings()
    result = ingest_kind(settings, "transactions", now=NOW)
    assert [f.status for f in result.files] == ["rejected", "rejected", "rejected", "loaded"]
    assert len(loaded(settings)) == 2
