"""Ingestion accounting, idempotence and foreign layouts (issue: platform foundation)."""

import csv
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from smartmarket.config import load_settings
from smartmarket.contracts import TRANSACTIONS
from smartmarket.ingest.loader import ingest_kind
from smartmarket.ingest.mapping import MappingError, load_mappings, parse_mapping
from tests.ingest_support import TX_HEADER, loaded, quarantined, tx_line, write_landing

NOW = datetime(2026, 1, 15)


def test_accounting_on_a_file_with_every_kind_of_row(data_dir: Path) -> None:
    lines = [
        TX_HEADER,
        tx_line("I1"),
        tx_line("I1"),  # an identical line: a second item, not a duplicate (only repeats across loads are)
        tx_line("I2", quantity="abc"),
        tx_line("I3", ts="2025-13-45"),
        tx_line("I4", unit_price="-5"),
        tx_line("I5", quantity="-1", amount="-10.00"),  # a return: loads
        "shop,I6,2025-03-01,C1,P1",  # truncated row
    ]
    write_landing(data_dir, "transactions", "day1.csv", "\n".join(lines) + "\n")
    settings = load_settings()

    result = ingest_kind(settings, "transactions", now=NOW)

    f = result.files[0]
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_duplicate, f.rows_skipped) == (7, 3, 4, 0, 0)
    assert f.balanced
    q = quarantined(settings)
    assert q["_row_number"].tolist() == [3, 4, 5, 7]
    assert q["_reason"].tolist() == [
        "quantity 'abc' is not an integer",
        "transaction_ts '2025-13-45' is not a valid date (expected ISO YYYY-MM-DD[ HH:MM:SS])",
        "unit_price -5.0 is negative",
        "row has 5 fields, header has 12",
    ]
    rows = loaded(settings)
    assert rows["invoice_id"].tolist() == ["I1", "I1", "I5"]
    assert rows["amount"].tolist() == [10.0, 10.0, -10.0]  # blank amount = quantity x unit_price
    assert rows["_row_number"].tolist() == [1, 2, 6]
    assert rows["_row_hash"].is_unique
    assert rows["_source_file"].unique().tolist() == ["transactions/day1.csv"]
    assert rows["_row_hash"].str.len().eq(16).all()


def test_reingesting_the_same_files_changes_nothing(data_dir: Path) -> None:
    write_landing(data_dir, "transactions", "a.csv", "\n".join([TX_HEADER, tx_line("I1"), tx_line("I2", quantity="x")]))
    settings = load_settings()
    ingest_kind(settings, "transactions", now=NOW)
    before = (loaded(settings), quarantined(settings))

    again = ingest_kind(settings, "transactions", now=NOW)

    assert [f.status for f in again.files] == ["skipped"]
    assert again.total("rows_loaded") == 0
    pd.testing.assert_frame_equal(loaded(settings), before[0])
    pd.testing.assert_frame_equal(quarantined(settings), before[1])


def test_a_copy_under_another_name_is_all_duplicates(data_dir: Path) -> None:
    body = "\n".join([TX_HEADER, tx_line("I1"), tx_line("I2"), tx_line("I3", unit_price="-1")]) + "\n"
    write_landing(data_dir, "transactions", "a.csv", body)
    settings = load_settings()
    ingest_kind(settings, "transactions", now=NOW)
    write_landing(data_dir, "transactions", "a_copy.csv", body)

    result = ingest_kind(settings, "transactions", now=NOW)

    copy = next(f for f in result.files if f.source_file.endswith("a_copy.csv"))
    assert (copy.rows_read, copy.rows_loaded, copy.rows_quarantined, copy.rows_duplicate) == (3, 0, 0, 3)
    assert len(loaded(settings)) == 2
    assert len(quarantined(settings)) == 1


def test_changed_file_loads_only_its_new_rows(data_dir: Path) -> None:
    write_landing(data_dir, "transactions", "a.csv", "\n".join([TX_HEADER, tx_line("I1")]) + "\n")
    settings = load_settings()
    ingest_kind(settings, "transactions", now=NOW)
    write_landing(data_dir, "transactions", "a.csv", "\n".join([TX_HEADER, tx_line("I1"), tx_line("I2")]) + "\n")

    f = ingest_kind(settings, "transactions", now=NOW).files[0]

    assert (f.rows_read, f.rows_loaded, f.rows_duplicate) == (2, 1, 1)
    assert loaded(settings)["invoice_id"].tolist() == ["I1", "I2"]


def _till_rows() -> list[dict[str, str]]:
    return [
        {"Date": "03/02/2025", "Product": "BREAD", "Quantity": "2", "Amount": "3,50", "Customer": "K7",
         "Payment Method": "cash"},
        {"Date": "03/02/2025", "Product": "MILK", "Quantity": "1", "Amount": "1,20", "Customer": "",
         "Payment Method": "card"},
        {"Date": "04/02/2025", "Product": "BREAD", "Quantity": "1", "Amount": "-1,75", "Customer": "K7",
         "Payment Method": "cash"},
    ]


def test_mapped_till_export_loads_the_same_rows_as_its_canonical_twin(tmp_path: Path, monkeypatch) -> None:
    till_dir, twin_dir = tmp_path / "till", tmp_path / "twin"
    lines = ["Date;Product;Quantity;Amount;Customer;Payment Method"]
    lines += [";".join(r.values()) for r in _till_rows()]
    write_landing(till_dir, "transactions", "till_2025-02.csv", "\n".join(lines) + "\n")
    # The canonical twin, written by hand from the mapping's rules.
    twin = [
        TX_HEADER,
        "corner_shop,TILL-20250203-1,2025-02-03,K7,BREAD,,,2,1.75,3.50,cash,EUR",
        "corner_shop,TILL-20250203-2,2025-02-03,,MILK,,,1,1.2,1.20,card,EUR",
        "corner_shop,TILL-20250204-3,2025-02-04,K7,BREAD,,,-1,1.75,-1.75,cash,EUR",
    ]
    write_landing(twin_dir, "transactions", "canonical.csv", "\n".join(twin) + "\n")

    frames = []
    for d in (till_dir, twin_dir):
        monkeypatch.setenv("SMARTMARKET_DATA_DIR", str(d))
        settings = load_settings()
        result = ingest_kind(settings, "transactions", now=NOW)
        assert result.total("rows_loaded") == 3, result.to_dict()
        frames.append(loaded(settings))
    till, canonical = frames
    assert till["_source_file"].iloc[0] == "transactions/till_2025-02.csv"
    cols = [*TRANSACTIONS.names, "_row_hash"]
    pd.testing.assert_frame_equal(till[cols], canonical[cols])


def test_mapping_file_errors_name_the_field_to_fix(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="not in the transactions contract"):
        parse_mapping({"kind": "transactions", "files": "*.csv", "rename": {"Total": "totl"}})
    with pytest.raises(MappingError, match="unknown landing kind"):
        parse_mapping({"kind": "sales", "files": "*.csv"})
    with pytest.raises(MappingError, match="delimiter"):
        parse_mapping({"kind": "transactions", "files": "*.csv", "delimiter": ";;"})
    bad = tmp_path / "m"
    bad.mkdir()
    (bad / "broken.yml").write_text("kind: [transactions\n")
    with pytest.raises(MappingError, match=r"broken\.yml: not valid YAML"):
        load_mappings([bad])


@pytest.mark.parametrize("action", [None, "skip", "quarantine"])
def test_cancellation_rule_skips_or_quarantines_with_the_rule_named(data_dir: Path, action: str | None) -> None:
    mdir = data_dir / "mappings"
    mdir.mkdir()
    chosen = f", action: {action}" if action else ""  # skip unless said otherwise
    (mdir / "pos.yml").write_text(
        "kind: transactions\nfiles: ['pos_*.csv']\ndefaults: {tenant_id: pos}\n"
        "rows:\n  returns: {column: Type, values: [REFUND]}\n"
        f"  cancellations: {{column: Type, values: [VOID]{chosen}}}\n")
    body = [
        ",".join([*TRANSACTIONS.names[1:], "Type"]),
        "I1,2025-03-01,C1,P1,,,2,5,10,card,USD,SALE",
        "I2,2025-03-01,C1,P1,,,2,5,10,card,USD,REFUND",
        "I3,2025-03-01,C1,P1,,,2,5,10,card,USD,void",
    ]
    write_landing(data_dir, "transactions", "pos_1.csv", "\n".join(body) + "\n")
    settings = load_settings()

    f = ingest_kind(settings, "transactions", now=NOW).files[0]

    assert loaded(settings)["quantity"].tolist() == [2, -2]
    assert loaded(settings)["amount"].tolist() == [10.0, -10.0]
    assert f.balanced
    rule = "rows.cancellations: Type in [VOID]"
    if action in (None, "skip"):
        # A mapping's deliberate exclusion is counted, not quarantined (it is not bad data).
        assert (f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_skipped) == (3, 2, 0, 1)
        assert f.skipped == {rule: 1}
        assert f"1 row(s) skipped by the mapping (1 x {rule})" in f.message
        assert len(quarantined(settings)) == 0
    else:
        assert (f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_skipped) == (3, 2, 1, 0)
        q = quarantined(settings)
        assert q["_row_number"].tolist() == [3]
        assert q["_reason"].tolist() == [f"cancellations line (Type = 'void'), quarantined by the mapping rule {rule}"]


def test_generated_defects_are_accounted_exactly(data_dir: Path) -> None:
    from smartmarket.datagen import generate

    report = generate(data_dir, size="tiny", seed=3, defect_rate=0.05)
    settings = load_settings()

    result = ingest_kind(settings, "transactions", now=NOW)

    d = report.defects
    assert result.total("rows_read") == report.rows["transactions"]
    assert result.total("rows_quarantined") == d["malformed_rows"] + d["negative_prices"] + d["bad_dates"]
    # Duplicates are the lines delivered again: a line's n-th copy in a file repeats an earlier file's n-th
    # copy. The generator's duplicate_rows (a copy next to its original, in one file) are identical lines
    # of one file, so they load: that is what an honest till export with two equal lines looks like.
    delivered: dict[str, int] = {}  # line -> most copies any earlier file had
    redelivered = 0
    for f in sorted((data_dir / "landing" / "transactions").glob("*.csv")):
        in_file: dict[str, int] = {}
        for line in f.read_text().splitlines()[1:]:
            in_file[line] = in_file.get(line, 0) + 1
        for line, n in in_file.items():
            redelivered += min(n, delivered.get(line, 0))
            delivered[line] = max(n, delivered.get(line, 0))
    assert result.total("rows_duplicate") == redelivered
    assert result.total("rows_loaded") == (report.rows["transactions"] - result.total("rows_quarantined")
                                           - redelivered)
    assert all(f.balanced for f in result.files)
    unknown = loaded(settings)["product_id"].str.startswith("UNKNOWN").sum()
    assert unknown == d["unknown_products"]  # valid by contract: loaded, flagged by the quality checks


def test_csv_files_written_by_the_csv_module_round_trip(data_dir: Path) -> None:
    path = data_dir / "landing" / "transactions" / "quoted.csv"
    path.parent.mkdir(parents=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(TRANSACTIONS.names)
        w.writerow(["shop", "I1", "2025-03-01", "C1", "P1", 'Ring, "gold"\nsize 7', "rings", "1", "5", "", "", ""])
    settings = load_settings()
    f = ingest_kind(settings, "transactions", now=NOW).files[0]
    assert f.rows_loaded == 1
    assert loaded(settings)["product_name"].iloc[0] == 'Ring, "gold"\nsize 7'


def _counts(f) -> tuple[int, int, int, int, int]:
    return f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_duplicate, f.rows_skipped


def test_identical_rows_are_items_in_a_file_and_duplicates_across_loads(data_dir: Path) -> None:
    r, other = tx_line("R"), tx_line("S", product="P2")
    settings = load_settings()
    write_landing(data_dir, "transactions", "a.csv", "\n".join([TX_HEADER, r, other, r]) + "\n")
    first = ingest_kind(settings, "transactions", now=NOW).files[0]
    assert _counts(first) == (3, 3, 0, 0, 0)  # R twice: two items

    # A later file with R once: that R is the first R again, a duplicate.
    write_landing(data_dir, "transactions", "b.csv", "\n".join([TX_HEADER, r]) + "\n")
    second = ingest_kind(settings, "transactions", now=NOW).files[1]
    assert _counts(second) == (1, 0, 0, 1, 0)

    # A file with R three times: the first two are known, the third is new.
    write_landing(data_dir, "transactions", "c.csv", "\n".join([TX_HEADER, r, r, r]) + "\n")
    third = ingest_kind(settings, "transactions", now=NOW).files[2]
    assert _counts(third) == (3, 1, 0, 2, 0)
    rows = loaded(settings)
    assert rows.loc[rows["invoice_id"] == "R", ["_source_file", "_row_number"]].values.tolist() == [
        ["transactions/a.csv", 1], ["transactions/a.csv", 3], ["transactions/c.csv", 3]]
    assert rows["_row_hash"].is_unique

    # Re-ingesting changes nothing; a copy of any of them under another name is all duplicates.
    assert [f.status for f in ingest_kind(settings, "transactions", now=NOW).files] == ["skipped"] * 3
    write_landing(data_dir, "transactions", "d_copy_of_c.csv", "\n".join([TX_HEADER, r, r, r]) + "\n")
    copy = ingest_kind(settings, "transactions", now=NOW).files[3]
    assert _counts(copy) == (3, 0, 0, 3, 0)
    assert len(loaded(settings)) == 4


def test_first_occurrence_keeps_the_row_hash_of_earlier_releases(data_dir: Path) -> None:
    # Warehouses loaded before occurrences were counted hold these keys: they must not load again.
    write_landing(data_dir, "transactions", "a.csv", "\n".join([TX_HEADER, tx_line("I1"), tx_line("I1")]) + "\n")
    write_landing(data_dir, "metal_prices", "m.csv",
                  "date,metal,purity,price_per_gram,currency,source\n2025-03-03,gold,999,88.12,USD,lbma\n")
    settings = load_settings()
    ingest_kind(settings, "transactions", now=NOW)
    ingest_kind(settings, "metal_prices", now=NOW)
    hashes = loaded(settings)["_row_hash"].tolist()
    assert hashes[0] == "92e4b2122a5c1f0e"  # computed by the release before this change
    assert hashes[1] != hashes[0] and len(hashes[1]) == 16
    assert loaded(settings, "metal_prices")["_row_hash"].tolist() == ["d5b62e7eae74ce2c"]


@pytest.mark.parametrize("fast", [True, False])
def test_occurrences_are_counted_across_the_chunks_of_a_file(data_dir: Path, monkeypatch, fast: bool) -> None:
    from functools import partial

    from smartmarket.ingest import reader, sources

    # Tiny chunks: the 2nd and 3rd copies of R land in later chunks than the 1st.
    monkeypatch.setattr(sources, "CHUNK_ROWS", 2)
    monkeypatch.setattr(sources, "arrow_batches", partial(reader.arrow_batches, block_bytes=200))
    r = tx_line("R")
    lines = [TX_HEADER, r, tx_line("A"), tx_line("B"), r, tx_line("C"), r]
    if not fast:
        lines.append("shop,short")  # one malformed row sends the file to the row-by-row reader
    write_landing(data_dir, "transactions", "a.csv", "\n".join(lines) + "\n")
    settings = load_settings()
    f = ingest_kind(settings, "transactions", now=NOW).files[0]
    assert (f.rows_loaded, f.rows_duplicate) == (6, 0)

    monkeypatch.setattr(sources, "CHUNK_ROWS", 250_000)
    monkeypatch.setattr(sources, "arrow_batches", reader.arrow_batches)
    write_landing(data_dir, "transactions", "b.csv", "\n".join([TX_HEADER, r, r, r, r]) + "\n")
    g = ingest_kind(settings, "transactions", now=NOW).files[1]
    assert (g.rows_loaded, g.rows_duplicate) == (1, 3)  # the same numbering in one chunk as in three


def test_a_natural_key_makes_later_rows_with_the_same_key_duplicates(data_dir: Path) -> None:
    (data_dir / "mappings").mkdir()
    (data_dir / "mappings" / "erp.yml").write_text(
        "kind: transactions\nfiles: 'erp_*.csv'\nnatural_key: [tenant_id, invoice_id, product_id]\n")
    write_landing(data_dir, "transactions", "erp_1.csv",
                  "\n".join([TX_HEADER, tx_line("I1"), tx_line("I1", quantity="3"), tx_line("I2")]) + "\n")
    write_landing(data_dir, "transactions", "erp_2.csv",
                  "\n".join([TX_HEADER, tx_line("I2", quantity="5"), tx_line("I3")]) + "\n")
    settings = load_settings()
    files = ingest_kind(settings, "transactions", now=NOW).files
    assert [_counts(f) for f in files] == [(3, 2, 0, 1, 0), (2, 1, 0, 1, 0)]
    rows = loaded(settings)
    assert rows[["invoice_id", "quantity"]].values.tolist() == [["I1", 1], ["I2", 1], ["I3", 1]]  # first wins


@contextmanager
def _warehouse_on(engine: str, monkeypatch) -> Iterator[None]:
    if engine == "duckdb":
        yield
        return
    from tests.dbt_support import require_postgres, throwaway_postgres_database

    require_postgres()
    with throwaway_postgres_database() as dbname:
        monkeypatch.setenv("SMARTMARKET_WAREHOUSE", "postgres")
        monkeypatch.setenv("SMARTMARKET_PG_DATABASE", dbname)
        yield


OLD_LOG_COLUMNS = [("kind", "string"), ("source_file", "string"), ("file_sha256", "string"), ("mapping", "string"),
                   ("status", "string"), ("rows_read", "integer"), ("rows_loaded", "integer"),
                   ("rows_quarantined", "integer"), ("rows_duplicate", "integer"), ("message", "string"),
                   ("ingested_at", "timestamp")]


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_an_existing_warehouse_gains_the_skipped_column_and_keeps_its_log(data_dir: Path, monkeypatch,
                                                                         engine: str) -> None:
    from smartmarket.warehouse import Warehouse, run

    with _warehouse_on(engine, monkeypatch):
        settings = load_settings()
        wh = Warehouse(settings)
        with wh.connect() as con:  # the log as the previous release created it, with one file in it
            wh.create_table(con, "raw._ingestion_log", OLD_LOG_COLUMNS)
            run(con, "insert into raw._ingestion_log values ('transactions', 'transactions/old.csv', 'abc', "
                     "'canonical', 'loaded', 2, 2, 0, 0, '', '2025-12-01 00:00:00')")
            if engine == "postgres":
                con.commit()
        (data_dir / "mappings").mkdir()
        (data_dir / "mappings" / "shop.yml").write_text(
            "kind: transactions\nfiles: 'shop_*.csv'\nrows: {skip: {column: product_id, values: [POST]}}\n")
        r = tx_line("R")
        write_landing(data_dir, "transactions", "shop_1.csv",
                      "\n".join([TX_HEADER, r, r, tx_line("P", product="POST")]) + "\n")

        f = ingest_kind(settings, "transactions", now=NOW).files[0]
        again = ingest_kind(settings, "transactions", now=NOW).files[0]

        assert _counts(f) == (3, 2, 0, 0, 1)
        assert again.status == "skipped"
        log = wh.query_df("select source_file, rows_read, rows_skipped from raw._ingestion_log order by source_file")
        assert log.values.tolist() == [["transactions/old.csv", 2, 0], ["transactions/shop_1.csv", 3, 1]]
        assert wh.row_count("raw.transactions") == 2


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_melted_records_share_a_row_number_and_a_renamed_copy_is_all_duplicates(data_dir: Path, monkeypatch,
                                                                                engine: str) -> None:
    with _warehouse_on(engine, monkeypatch):
        (data_dir / "mappings").mkdir()
        (data_dir / "mappings" / "gold.yml").write_text(
            "kind: metal_prices\nfiles: 'wide*.csv'\nrename: {Date: date}\ndefaults: {metal: gold, purity: 999}\n"
            "melt: {columns: [USD, EUR], names_to: currency, values_to: price_per_gram}\n")
        content = "Date,USD,EUR\n2025-01-02,85.1,x\n2025-01-03,y,80.2\n"
        write_landing(data_dir, "metal_prices", "wide.csv", content)
        write_landing(data_dir, "metal_prices", "wide_copy.csv", content)
        settings = load_settings()

        first, copy = ingest_kind(settings, "metal_prices", now=NOW).files

        assert _counts(first) == (4, 2, 2, 0, 0)
        assert _counts(copy) == (4, 0, 0, 4, 0)
        q = quarantined(settings, "metal_prices")
        assert list(zip(q["_row_number"], q["_reason"], q["_raw_record"], strict=True)) == [
            (1, "price_per_gram 'x' is not a number (melted column EUR)", '{"Date": "2025-01-02", "EUR": "x"}'),
            (2, "price_per_gram 'y' is not a number (melted column USD)", '{"Date": "2025-01-03", "USD": "y"}')]


def test_plausibility_bounds_default_and_come_from_the_environment() -> None:
    from datetime import date

    defaults = load_settings({})
    assert (defaults.max_money, defaults.earliest_date) == (1_000_000_000.0, date(1900, 1, 1))
    custom = load_settings({"SMARTMARKET_MAX_MONEY": "25_000", "SMARTMARKET_EARLIEST_DATE": "2010-06-01"})
    assert (custom.max_money, custom.earliest_date) == (25_000.0, date(2010, 6, 1))


@pytest.mark.parametrize(("var", "value", "message"), [
    ("SMARTMARKET_MAX_MONEY", "lots", "SMARTMARKET_MAX_MONEY='lots' is not a positive number"),
    ("SMARTMARKET_MAX_MONEY", "-5", "SMARTMARKET_MAX_MONEY='-5' is not a positive number"),
    ("SMARTMARKET_MAX_MONEY", "inf", "SMARTMARKET_MAX_MONEY='inf' is not a positive number"),
    ("SMARTMARKET_EARLIEST_DATE", "01/01/1990", "SMARTMARKET_EARLIEST_DATE='01/01/1990' is not an ISO date"),
    ("SMARTMARKET_EARLIEST_DATE", "1500-01-01", "is before 1678-01-01"),
])
def test_a_wrong_plausibility_setting_says_what_to_fix(var: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        load_settings({var: value})
