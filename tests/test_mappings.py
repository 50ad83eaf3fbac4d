"""Mapping files: the shipped mappings on small files in real public layouts, every mapping key, and the
errors a wrong mapping gives (file and field to fix)."""

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from smartmarket.config import load_settings
from smartmarket.ingest.loader import ingest_kind
from smartmarket.ingest.mapping import MappingError, load_mappings, parse_mapping
from tests.ingest_support import loaded, parquet_bytes, quarantined, write_landing, xlsx_bytes

NOW = datetime(2026, 1, 15)
TROY_OUNCE_GRAMS = 31.1034768


def _counts(f) -> tuple[int, int, int, int, int]:
    return f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_duplicate, f.rows_skipped


def _user_mapping(data_dir: Path, name: str, text: str) -> None:
    folder = data_dir / "mappings"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)


# -- UCI Online Retail II -------------------------------------------------------------------------------

RETAIL_HEADER = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"]
RETAIL_ROWS = [
    ["489434", "85048", "15CM CHRISTMAS GLASS BALL 20 LIGHTS", "12", "2009-12-01 07:45:00", "6.95", "13085.0",
     "United Kingdom"],
    ["489434", "79323P", "PINK CHERRY LIGHTS", "12", "2009-12-01 07:45:00", "6.75", "13085.0", "United Kingdom"],
    ["489434", "79323P", "PINK CHERRY LIGHTS", "12", "2009-12-01 07:45:00", "6.75", "13085.0", "United Kingdom"],
    ["C489449", "22087", "PAPER BUNTING WHITE LACE", "-12", "2009-12-01 10:33:00", "2.95", "16321.0", "Australia"],
    ["489597", "POST", "POSTAGE", "3", "2009-12-01 14:28:00", "18.00", "12533.0", "Germany"],
    ["489600", "BANK CHARGES", "Bank Charges", "1", "2009-12-01 14:30:00", "15.00", "", "United Kingdom"],
    ["489601", "gift_0001_20", "Dotcomgiftshop Gift Voucher", "1", "2009-12-01 14:31:00", "17.02", "",
     "United Kingdom"],
    ["489602", "TEST001", "This is a test product.", "5", "2009-12-01 14:32:00", "4.50", "12346.0", "United Kingdom"],
    ["C489603", "M", "Manual", "-1", "2009-12-01 14:33:00", "1.00", "", "United Kingdom"],
    ["489604", "21232", "STRAWBERRY CERAMIC TRINKET BOX", "24", "2009-12-01 14:34:00", "1.25", "", "United Kingdom"],
    ["489605", "21232", "STRAWBERRY CERAMIC TRINKET BOX", "twelve", "2009-12-01 14:35:00", "1.25", "", "France"],
]


def _csv(header: list[str], rows: list[list[str]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def test_online_retail_ii_csv_through_the_shipped_mapping(data_dir: Path) -> None:
    write_landing(data_dir, "transactions", "online_retail_II.csv", _csv(RETAIL_HEADER, RETAIL_ROWS))
    settings = load_settings()

    f = ingest_kind(settings, "transactions", now=NOW).files[0]

    assert f.mapping == "online_retail_ii"
    assert _counts(f) == (11, 5, 1, 0, 5) and f.balanced
    # POST, BANK CHARGES, M and TEST001 are listed; the gift voucher matches the pattern
    assert f.skipped == {"rows.skip: StockCode in [POST, DOT, C2, C3, M, D, S, B, ...]": 4,
                         "rows.skip: StockCode matches '(?i)^(gift_|test|adjust)'": 1}
    rows = loaded(settings)
    assert rows["invoice_id"].tolist() == ["489434", "489434", "489434", "C489449", "489604"]
    assert rows["product_id"].tolist() == ["85048", "79323P", "79323P", "22087", "21232"]
    assert rows["customer_id"].tolist() == ["13085", "13085", "13085", "16321", None]  # .0 stripped; blank = guest
    assert rows["quantity"].tolist() == [12, 12, 12, -12, 24]  # the C invoice is a return
    assert rows["amount"].tolist() == [83.4, 81.0, 81.0, -35.4, 30.0]
    assert rows["tenant_id"].unique().tolist() == ["online_retail_ii"]
    assert rows["currency"].unique().tolist() == ["GBP"]
    assert rows["transaction_ts"].iloc[0] == pd.Timestamp("2009-12-01 07:45:00")
    assert json.loads(rows["_extra_columns"].iloc[3]) == {"Country": "Australia"}
    q = quarantined(settings)
    assert list(zip(q["_row_number"], q["_reason"], strict=True)) == [(11, "quantity 'twelve' is not an integer")]


def _retail_cells(row: list[str]) -> list[object]:
    """The row as the UCI workbook holds it: numbers as numbers, dates as datetimes, Customer ID a float."""
    invoice, code, desc, qty, ts, price, customer, country = row
    number = int(invoice) if invoice.isdigit() else invoice
    code_cell = int(code) if code.isdigit() else code
    qty_cell = int(qty) if qty.lstrip("-").isdigit() else qty
    return [number, code_cell, desc, qty_cell, datetime.fromisoformat(ts), float(price),
            float(customer) if customer else None, country]


def test_online_retail_ii_workbook_reads_both_yearly_sheets(data_dir: Path) -> None:
    first, second = RETAIL_ROWS[:4], RETAIL_ROWS[3:]  # row 4 is in both sheets, as December 2010 is
    book = xlsx_bytes({"Year 2009-2010": [RETAIL_HEADER, *map(_retail_cells, first)],
                       "Year 2010-2011": [RETAIL_HEADER, *map(_retail_cells, second)]},
                      stored_as={"13085": "13085.0", "16321": "16321.0"})
    write_landing(data_dir, "transactions", "online_retail_II.xlsx", book)
    settings = load_settings()

    files = ingest_kind(settings, "transactions", now=NOW).files

    assert [f.source_file for f in files] == ["transactions/online_retail_II.xlsx#Year 2009-2010",
                                              "transactions/online_retail_II.xlsx#Year 2010-2011"]
    assert [_counts(f) for f in files] == [(4, 4, 0, 0, 0), (8, 1, 1, 1, 5)]
    q = quarantined(settings)
    assert q[["_source_file", "_row_number"]].values.tolist() == [
        ["transactions/online_retail_II.xlsx#Year 2010-2011", 8]]
    # The same export as CSV holds the same rows, typed the same way: all of it is already there.
    write_landing(data_dir, "transactions", "online_retail_II.csv", _csv(RETAIL_HEADER, RETAIL_ROWS))
    csv_file = ingest_kind(settings, "transactions", now=NOW).files[0]
    assert csv_file.source_file == "transactions/online_retail_II.csv"
    assert _counts(csv_file) == (11, 0, 1, 5, 5)
    assert loaded(settings)["customer_id"].tolist()[:4] == ["13085", "13085", "13085", "16321"]


# -- gold prices, wide ----------------------------------------------------------------------------------

def test_gold_prices_wide_by_currency_per_troy_ounce(data_dir: Path) -> None:
    content = ('Date,USD,EUR,GBP\n2025-01-02,"2,650.50","2,560.10","2,120.00"\n2025-01-03,,,\n'
               '2025-01-06,"2,635.25",,"2,110.75"\n')
    write_landing(data_dir, "metal_prices", "gold_daily_2025.csv", content)
    settings = load_settings()

    f = ingest_kind(settings, "metal_prices", now=NOW).files[0]

    # One record per row and currency column: 3 rows x 3 currencies = 9 read; closed days are skipped.
    assert f.mapping == "gold_prices_wide"
    assert _counts(f) == (9, 5, 0, 0, 4) and f.balanced
    rows = loaded(settings, "metal_prices")
    assert rows["currency"].tolist() == ["USD", "EUR", "GBP", "USD", "GBP"]
    assert rows["_row_number"].tolist() == [1, 1, 1, 3, 3]
    expected = [2650.50, 2560.10, 2120.00, 2635.25, 2110.75]
    assert rows["price_per_gram"].tolist() == pytest.approx([p / TROY_OUNCE_GRAMS for p in expected], rel=1e-12)
    assert rows[["metal", "purity", "source"]].drop_duplicates().values.tolist() == [["gold", 999, "gold_prices_wide"]]


def test_a_wide_table_by_purity_with_a_scale_and_fixed_metal(data_dir: Path) -> None:
    _user_mapping(data_dir, "karat.yml", """
kind: metal_prices
files: "karat_*.csv"
rename: {Date: date}
defaults: {metal: gold, currency: INR, source: city_rates}
melt:
  columns: {24K: 999, 22K: 916, 18K: 750}
  names_to: purity
  values_to: price_per_gram
scale: {price_per_gram: 1/10}     # quoted per 10 grams
""")
    write_landing(data_dir, "metal_prices", "karat_march.csv", "Date,24K,22K,18K\n2025-03-03,87000,79750,65250\n")
    settings = load_settings()
    f = ingest_kind(settings, "metal_prices", now=NOW).files[0]
    assert _counts(f) == (3, 3, 0, 0, 0)
    rows = loaded(settings, "metal_prices")
    assert rows[["purity", "price_per_gram", "currency"]].values.tolist() == [
        [999, 8700.0, "INR"], [916, 7975.0, "INR"], [750, 6525.0, "INR"]]


def test_one_of_several_price_columns_is_picked_and_the_others_kept(data_dir: Path) -> None:
    _user_mapping(data_dir, "quotes.yml", """
kind: metal_prices
files: "quotes_*.csv"
rename: {Day: date, Mid: price_per_gram}
defaults: {currency: USD}
""")
    write_landing(data_dir, "metal_prices", "quotes_1.csv",
                  "Day,metal,purity,Bid,Ask,Mid\n2025-03-03,silver,999,0.98,1.02,1.00\n")
    settings = load_settings()
    ingest_kind(settings, "metal_prices", now=NOW)
    rows = loaded(settings, "metal_prices")
    assert rows["price_per_gram"].tolist() == [1.0]
    assert json.loads(rows["_extra_columns"].iloc[0]) == {"Bid": "0.98", "Ask": "1.02"}


def test_wide_table_in_a_workbook_and_parquet(data_dir: Path) -> None:
    cells = [["Date", "USD", "EUR"], [datetime(2025, 1, 2), 2650.5, None], [datetime(2025, 1, 3), 2655.0, 2560.0]]
    write_landing(data_dir, "metal_prices", "gold_daily_a.xlsx", xlsx_bytes({"Prices": cells}))
    write_landing(data_dir, "metal_prices", "gold_daily_b.parquet", parquet_bytes(
        {"Date": [datetime(2025, 1, 6)], "USD": [2640.0], "EUR": [2550.0]}))
    settings = load_settings()
    files = ingest_kind(settings, "metal_prices", now=NOW).files
    assert [(f.source_file, _counts(f)) for f in files] == [
        ("metal_prices/gold_daily_a.xlsx#Prices", (4, 3, 0, 0, 1)),
        ("metal_prices/gold_daily_b.parquet", (2, 2, 0, 0, 0))]
    rows = loaded(settings, "metal_prices")
    assert rows["date"].astype(str).tolist() == ["2025-01-02", "2025-01-03", "2025-01-03", "2025-01-06", "2025-01-06"]


# -- diamonds ---------------------------------------------------------------------------------------------

def test_diamonds_csv_with_its_unnamed_index_and_identical_stones(data_dir: Path) -> None:
    content = ('"","carat","cut","color","clarity","depth","table","price","x","y","z"\n'
               '"1",0.23,"Ideal","E","SI2",61.5,55,326,3.95,3.98,2.43\n'
               '"2",0.21,"Premium","E","SI1",59.8,61,326,3.89,3.84,2.31\n'
               '"3",0.79,"Ideal","G","SI1",62.3,57,2898,5.9,5.85,3.66\n'
               '"4",0.79,"Ideal","G","SI1",62.3,57,2898,5.9,5.85,3.66\n'
               '"5",0.3,"Good","J","SI1",64,55,339,0,0,0\n'
               '"6",0.3,"Superb","J","SI1",64,55,339,4.25,4.28,2.73\n')
    write_landing(data_dir, "diamond_prices", "diamonds.csv", content)
    settings = load_settings()

    f = ingest_kind(settings, "diamond_prices", now=NOW).files[0]

    assert f.mapping == "diamonds"
    assert _counts(f) == (6, 5, 1, 0, 0)
    assert "extra column" not in f.message  # the blank-named index column is not data
    rows = loaded(settings, "diamond_prices")
    assert rows["price"].tolist() == [326.0, 326.0, 2898.0, 2898.0, 339.0]  # two identical stones: both
    assert rows["_extra_columns"].isna().all()
    q = quarantined(settings, "diamond_prices")
    assert q["_reason"].tolist() == ["cut 'Superb' is not one of Fair, Good, Very Good, Premium, Ideal"]
    # The same file again under another name: every stone is already there.
    write_landing(data_dir, "diamond_prices", "diamonds (copy).csv", content)
    again = ingest_kind(settings, "diamond_prices", now=NOW).files
    assert [_counts(g) for g in again if g.status != "skipped"] == [(6, 0, 0, 6, 0)]


# -- mapping keys ---------------------------------------------------------------------------------------

def test_sheets_named_missing_and_all(data_dir: Path) -> None:
    header = ["invoice_id", "transaction_ts", "product_id", "quantity", "unit_price"]
    book = xlsx_bytes({"Notes": [["read me"]],
                       "Jan": [header, ["J1", datetime(2025, 1, 5), "P1", 1, 2.0]],
                       "Feb": [header, ["F1", datetime(2025, 2, 5), "P1", 2, 2.0]]})
    _user_mapping(data_dir, "book.yml", "kind: transactions\nfiles: 'book*.xlsx'\nsheets: [Jan, Feb, Mar]\n"
                                        "defaults: {tenant_id: shop}\n")
    write_landing(data_dir, "transactions", "book.xlsx", book)
    settings = load_settings()

    files = ingest_kind(settings, "transactions", now=NOW).files

    assert [(f.source_file, f.status, f.rows_loaded) for f in files] == [
        ("transactions/book.xlsx#Jan", "loaded", 1), ("transactions/book.xlsx#Feb", "loaded", 1),
        ("transactions/book.xlsx#Mar", "rejected", 0)]
    assert files[2].message == ("transactions/book.xlsx#Mar: sheet 'Mar' is not in the workbook "
                                "(sheets: Notes, Jan, Feb)")
    # Without `sheets`, only the first sheet is read (here a notes page without the required columns).
    write_landing(data_dir, "transactions", "other.xlsx", book)
    first_only = ingest_kind(settings, "transactions", now=NOW).files[-1]
    assert first_only.source_file == "transactions/other.xlsx#Notes"
    assert first_only.status == "rejected" and "missing required column(s)" in first_only.message


def test_clean_steps_and_an_integer_scale(data_dir: Path) -> None:
    _user_mapping(data_dir, "packs.yml", """
kind: transactions
files: "packs_*.csv"
defaults: {tenant_id: shop}
clean: {customer_id: strip_dot_zero, product_id: [trim, upper]}
scale: {quantity: 12}        # sold in dozens
""")
    write_landing(data_dir, "transactions", "packs_1.csv",
                  "invoice_id,transaction_ts,customer_id,product_id,quantity,unit_price\n"
                  "I1,2025-03-01, 13085.0 , ab-1 ,2,0.5\nI2,2025-03-01,1.50,ab-2,0.5,1\n")
    settings = load_settings()
    f = ingest_kind(settings, "transactions", now=NOW).files[0]
    assert _counts(f) == (2, 2, 0, 0, 0)
    rows = loaded(settings)
    assert rows[["customer_id", "product_id", "quantity"]].values.tolist() == [["13085", "AB-1", 24],
                                                                                ["1.50", "AB-2", 6]]


WRONG_MAPPINGS = {
    "unknown key": ({"kind": "transactions", "files": "*.csv", "renames": {}}, "unknown key(s): renames"),
    "unknown kind": ({"kind": "sales", "files": "*.csv"}, "kind: unknown landing kind 'sales'"),
    "no files": ({"kind": "transactions"}, "'files' must be a glob"),
    "rename target": ({"kind": "transactions", "files": "*.csv", "rename": {"Total": "totl"}},
                      "rename: column(s) totl are not in the transactions contract"),
    "scale not a number": ({"kind": "metal_prices", "files": "*", "scale": {"price_per_gram": "per ounce"}},
                           "scale.price_per_gram: 'per ounce' is not a number or an expression"),
    "scale divides by zero": ({"kind": "metal_prices", "files": "*", "scale": {"price_per_gram": "1/0"}},
                              "scale.price_per_gram: '1/0' divides by zero"),
    "scale is code": ({"kind": "metal_prices", "files": "*", "scale": {"price_per_gram": "__import__('os')"}},
                      "\"__import__('os')\" is not a number or an expression such as 1/31.1034768"),
    "scale on text": ({"kind": "metal_prices", "files": "*", "scale": {"currency": 2}},
                      "scale.currency: only numeric columns can be scaled"),
    "clean step": ({"kind": "transactions", "files": "*", "clean": {"customer_id": "strip"}},
                   "clean.customer_id: expected one or a list of trim, strip_dot_zero, upper, lower"),
    "melt without values_to": ({"kind": "metal_prices", "files": "*", "melt": {"columns": ["USD"],
                                                                                "names_to": "currency"}},
                               "melt.values_to: None is not a column of the metal_prices contract"),
    "melt target also renamed": ({"kind": "metal_prices", "files": "*", "rename": {"Rate": "price_per_gram"},
                                  "melt": {"columns": ["USD"], "names_to": "currency",
                                           "values_to": "price_per_gram"}},
                                 "melt.values_to: price_per_gram is also filled by rename"),
    "melt without columns": ({"kind": "metal_prices", "files": "*", "melt": {"names_to": "currency",
                                                                             "values_to": "price_per_gram"}},
                             "melt.columns: list the wide columns"),
    "rule without a matcher": ({"kind": "transactions", "files": "*", "rows": {"skip": [{"column": "StockCode"}]}},
                               "rows.skip[0] needs one of values, prefix, pattern, blank"),
    "rule with a bad pattern": ({"kind": "transactions", "files": "*",
                                 "rows": {"skip": {"column": "StockCode", "pattern": "(?!POST)"}}},
                                "rows.skip.pattern: '(?!POST)' is not a valid regular expression"),
    "rule with an unknown key": ({"kind": "transactions", "files": "*",
                                  "rows": {"cancellations": {"column": "Invoice", "startswith": "C"}}},
                                 "rows.cancellations: unknown key(s) startswith"),
    "rule action": ({"kind": "transactions", "files": "*",
                     "rows": {"cancellations": {"column": "Invoice", "prefix": "C", "action": "drop"}}},
                    "rows.cancellations.action must be one of return, skip, quarantine, got 'drop'"),
    "return on prices": ({"kind": "metal_prices", "files": "*",
                          "rows": {"returns": {"column": "Type", "values": ["R"]}}},
                         "action 'return' only applies to transactions"),
    "rows section": ({"kind": "transactions", "files": "*", "rows": {"refunds": {}}},
                     "rows.refunds: expected one of returns, cancellations, skip"),
    "default tenant": ({"kind": "transactions", "files": "*", "defaults": {"tenant_id": "Corner Shop"}},
                       "defaults.tenant_id: 'corner shop' is not a tenant id"),
    "natural key": ({"kind": "transactions", "files": "*", "natural_key": ["invoice", "product_id"]},
                    "natural_key: column(s) invoice are not in the transactions contract"),
    "sheets": ({"kind": "transactions", "files": "*", "sheets": {"first": 1}}, "sheets: expected a sheet name"),
    "date format": ({"kind": "transactions", "files": "*", "date_format": "dd/mm/yyyy"},
                    "date_format: 'dd/mm/yyyy' is not a strptime format"),
    "delimiter": ({"kind": "transactions", "files": "*.csv", "delimiter": ";;"}, "delimiter must be a single"),
}


@pytest.mark.parametrize("case", list(WRONG_MAPPINGS))
def test_a_wrong_mapping_names_the_file_and_the_field_to_fix(tmp_path: Path, case: str) -> None:
    import yaml

    data, message = WRONG_MAPPINGS[case]
    folder = tmp_path / "mappings"
    folder.mkdir()
    (folder / "shop.yml").write_text(yaml.safe_dump(data))
    with pytest.raises(MappingError) as err:
        load_mappings([folder])
    assert str(err.value).startswith(f"{folder / 'shop.yml'}: ")
    assert message in str(err.value)


def test_a_wrong_mapping_keeps_failing_ingestion_with_the_file_named(data_dir: Path) -> None:
    _user_mapping(data_dir, "till.yml", "kind: transactions\nfiles: 'till_*.csv'\nscale: {quantity: ten}\n")
    write_landing(data_dir, "transactions", "till_1.csv", "x\n1\n")
    settings = load_settings()
    for _ in range(2):  # not swallowed, not cached: every run says what to fix
        with pytest.raises(MappingError, match=r"till\.yml: scale\.quantity: 'ten' is not a number"):
            ingest_kind(settings, "transactions", now=NOW)


def test_a_rule_column_missing_from_the_file_rejects_it_by_name(data_dir: Path) -> None:
    _user_mapping(data_dir, "pos.yml", "kind: transactions\nfiles: 'pos_*.csv'\ndefaults: {tenant_id: pos}\n"
                                       "rows:\n  returns: {column: Type, values: [REFUND]}\n")
    write_landing(data_dir, "transactions", "pos_1.csv",
                  "invoice_id,transaction_ts,product_id,quantity,unit_price\nI1,2025-03-01,P1,1,2\n")
    f = ingest_kind(load_settings(), "transactions", now=NOW).files[0]
    assert (f.status, _counts(f)) == ("rejected", (1, 0, 1, 0, 0))
    assert f.message.startswith("transactions/pos_1.csv: mapping rule column(s) not in the file: Type (rows.returns)")


def test_every_shipped_mapping_parses() -> None:
    names = {m.name for m in load_mappings()}
    assert {"till_export", "online_retail_ii", "gold_prices_wide", "diamonds"} <= names


def test_parse_mapping_reads_numbers_and_expressions_as_scale() -> None:
    m = parse_mapping({"kind": "metal_prices", "files": "*", "scale": {"price_per_gram": "1/31.1034768"}})
    assert m.scale == {"price_per_gram": pytest.approx(1 / 31.1034768, rel=1e-15)}
    assert parse_mapping({"kind": "metal_prices", "files": "*", "scale": {"price_per_gram": 0.5}}).scale == {
        "price_per_gram": 0.5}


def test_a_workbook_with_date_cells_and_text_dates_in_the_mapping_format(data_dir: Path) -> None:
    _user_mapping(data_dir, "till_book.yml", "kind: transactions\nfiles: 'till_*.xlsx'\ndate_format: '%d/%m/%Y'\n"
                                             "defaults: {tenant_id: shop}\ndecimal: ','\n")
    header = ["invoice_id", "transaction_ts", "product_id", "quantity", "unit_price"]
    write_landing(data_dir, "transactions", "till_march.xlsx", xlsx_bytes({"Sales": [
        header, ["T1", datetime(2025, 3, 4, 9, 30), "P1", 1, 2.5],   # a date cell: read whatever the format
        ["T2", "05/03/2025", "P1", 1, 2.5],                         # text: read with date_format
        ["T3", "2025-03-06", "P1", 1, "2,5"]]}))                    # text decimal comma: not a number here
    settings = load_settings()
    f = ingest_kind(settings, "transactions", now=NOW).files[0]
    assert _counts(f) == (3, 2, 1, 0, 0)
    rows = loaded(settings)
    assert rows["transaction_ts"].tolist() == [pd.Timestamp("2025-03-04 09:30"), pd.Timestamp("2025-03-05")]
    assert rows["unit_price"].tolist() == [2.5, 2.5]  # the mapping's decimal comma does not apply to cells
    assert quarantined(settings)["_reason"].tolist() == ["unit_price '2,5' is not a number"]


def test_cancellations_by_invoice_prefix(data_dir: Path) -> None:
    # Some tills mark a cancelled invoice by its number only and keep the quantity positive.
    _user_mapping(data_dir, "pos.yml",
                  "kind: transactions\nfiles: 'pos_*.csv'\ndefaults: {tenant_id: pos}\n"
                  "rows:\n  cancellations: {column: invoice_id, prefix: [C, X-], action: return}\n")
    write_landing(data_dir, "transactions", "pos_1.csv",
                  "invoice_id,transaction_ts,product_id,quantity,unit_price\n"
                  "1001,2025-03-01,P1,2,5\nC1001,2025-03-01,P1,2,5\nx-1002,2025-03-01,P1,1,5\nAC1,2025-03-01,P1,1,5\n")
    settings = load_settings()
    f = ingest_kind(settings, "transactions", now=NOW).files[0]
    assert _counts(f) == (4, 4, 0, 0, 0)
    rows = loaded(settings)
    assert rows[["invoice_id", "quantity", "amount"]].values.tolist() == [
        ["1001", 2, 10.0], ["C1001", -2, -10.0], ["x-1002", -1, -5.0], ["AC1", 1, 5.0]]
