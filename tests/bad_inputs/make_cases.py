"""Write the bad-input corpus: one small file per case and ``cases.yaml`` with the expected
outcome of each (exit code, words the message must contain, warnings, ledger rows).

Run once (``python tests/bad_inputs/make_cases.py``); the files and cases.yaml are committed
and ``tests/test_bad_inputs.py`` runs every case through the real CLI.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import yaml

HERE = Path(__file__).parent
FILES = HERE / "files"
GOOD = "cid,day,amt\n1,2020-01-02,10.50\n2,2020-01-03,4.00\n1,2020-02-10,7.25\n"

# name: (file name, content, parameters, command, expected)
CASES: list[dict] = []


def case(name, file, content, *, params=None, command="check", exit=2, contains=(),
         warnings=(), ledger=None, note=""):
    CASES.append({"name": name, "file": file, "params": params or {}, "command": command,
                  "exit": exit, "contains": list(contains), "warnings": list(warnings),
                  "ledger": ledger or {}, "note": note})
    if content is None:
        return
    path = FILES / file
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, pd.DataFrame):
        if file.endswith(".parquet"):
            content.to_parquet(path, index=False)
        else:
            content.to_excel(path, index=False)
    elif callable(content):
        content(path)
    else:
        path.write_text(content, encoding="utf-8", newline="")


def build() -> None:
    FILES.mkdir(exist_ok=True)
    for old in FILES.iterdir():
        old.unlink()
    case("empty file", "empty.csv", b"", contains=["empty (0 bytes)"])
    case("header only", "header_only.csv", "cid,day,amt\n", contains=["no data rows"])
    case("binary garbage", "garbage.csv", bytes(range(256)) * 4, contains=["binary"])
    case("gzip renamed .csv", "gzipped.csv", gzip.compress(GOOD.encode()),
         contains=["gzip-compressed"])
    case("gzip named .csv.gz is read", "good.csv.gz", gzip.compress(GOOD.encode()), exit=0,
         ledger={"kept": 3})
    case("latin-1 read as utf-8", "latin1.csv",
         "cid,day,amt,city\n1,2020-01-02,10.5,Málaga\n".encode("latin-1"),
         contains=["not valid utf-8", "encoding"])
    case("latin-1 with encoding set", "latin1_ok.csv",
         "cid,day,amt,city\n1,2020-01-02,10.5,Málaga\n".encode("latin-1"),
         params={"encoding": "latin-1"}, exit=0, ledger={"kept": 1})
    case("utf-16", "utf16.csv", GOOD.encode("utf-16"), contains=["UTF-16", "encoding: utf-16"])
    case("utf-16 with encoding set", "utf16_ok.csv", GOOD.encode("utf-16"),
         params={"encoding": "utf-16"}, exit=0, ledger={"kept": 3})
    case("byte-order mark", "bom.csv", "\ufeff" + GOOD, exit=0, ledger={"kept": 3})
    case("wrong separator", "pipes.csv", GOOD.replace(",", "|"), params={"sep": ","},
         contains=["'amt'", "separator ',' is probably wrong"])
    case("separator detected", "semicolons.csv", GOOD.replace(",", ";"), exit=0,
         ledger={"kept": 3})
    case("quoted separators and newlines", "quoted.csv",
         'cid,day,amt,note\n1,2020-01-02,10.5,"a, b"\n2,2020-01-03,4,"line one\nline two"\n',
         exit=0, ledger={"kept": 2})
    case("repeated header", "repeated_header.csv", GOOD + "cid,day,amt\n3,2020-03-01,1\n",
         contains=["header line appears again", "line 5"])
    case("missing mapped column", "no_amount.csv", "cid,day,total\n1,2020-01-02,3\n",
         contains=["'amt'", "not in the file", "columns are"])
    case("extra unnamed columns", "trailing_commas.csv",
         "cid,day,amt,,\n1,2020-01-02,10.5,,\n2,2020-01-03,4,,\n", exit=0, ledger={"kept": 2})
    case("mixed date formats", "mixed_dates.csv",
         "cid,day,amt\n1,2020-01-02,10.5\n2,01/15/2020,4\n3,2020-02-01,2\n", exit=0,
         warnings=["not ISO 8601"], ledger={"kept": 3})
    case("dates in the future", "future.csv", GOOD + "3,2102-01-01,9\n", exit=0,
         warnings=["after today", "LARGE DROP: rule implausible_dates"],
         ledger={"implausible_dates": 1, "kept": 3})
    case("dates before 1900", "ancient.csv", GOOD + "3,1850-01-01,9\n", exit=0,
         warnings=["before 1900", "LARGE DROP: rule implausible_dates"],
         ledger={"implausible_dates": 1, "kept": 3})
    case("unparseable dates", "bad_dates.csv", GOOD + "3,31/31/2020,9\n",
         contains=["'day'", "could not be read as a date", "line 5", "31/31/2020"])
    case("empty dates", "empty_dates.csv", GOOD + "3,,9\n", contains=["date that is empty"])
    case("currency symbols", "dollars.csv", 'cid,day,amt\n1,2020-01-02,$10.50\n2,2020-01-03,"$4"\n',
         exit=0, warnings=["currency symbols removed"], ledger={"kept": 2})
    case("thousands separators unset", "thousands.csv",
         'cid,day,amt\n1,2020-01-02,"1,234.50"\n2,2020-01-03,4\n',
         contains=["'amt'", "not a finite number", "thousands"])
    case("thousands separators set", "thousands_ok.csv",
         'cid,day,amt\n1,2020-01-02,"1,234.50"\n2,2020-01-03,4\n', params={"thousands": ","},
         exit=0, ledger={"kept": 2})
    case("decimal commas unset", "decimal_comma.csv", "cid;day;amt\n1;2020-01-02;10,50\n",
         contains=["not a finite number", "decimal: ','"])
    case("decimal commas set", "decimal_comma_ok.csv", "cid;day;amt\n1;2020-01-02;10,50\n",
         params={"decimal": ","}, exit=0, ledger={"kept": 1})
    case("text in amounts", "text_amount.csv", GOOD + "3,2020-03-01,ten\n",
         contains=["'amt'", "not a finite number", "ten"])
    case("nan and inf in amounts", "nan_inf.csv", GOOD + "3,2020-03-01,inf\n",
         contains=["'amt'", "not a finite number", "inf"])
    case("negative quantity without cancellation mark", "neg_qty.csv",
         "inv,cid,day,qty,price\n100,1,2020-01-02,2,5\n101,1,2020-01-05,-1,5\n102,2,2020-01-06,1,3\n",
         params={"columns": {"customer_id": "cid", "date": "day", "quantity": "qty",
                             "unit_price": "price", "order_id": "inv"}},
         exit=0, warnings=["no cancellation mark", "LARGE DROP: rule cancellations"],
         ledger={"cancellations": 1, "kept": 2})
    case("all rows cleaned away", "no_ids.csv", "cid,day,amt\n,2020-01-02,3\n,2020-01-03,4\n",
         contains=["cleaning removed every row", "missing_customer_id 2"])
    case("float customer ids", "float_ids.csv",
         "cid,day,amt\n12345.0,2020-01-02,3\n00012.0,2020-01-03,4\n", exit=0,
         warnings=["trailing '.0' was removed"], ledger={"kept": 2})
    case("leading zeros kept", "zeros.csv", "cid,day,amt\n007,2020-01-02,3\n7,2020-01-03,4\n",
         exit=0, ledger={"kept": 2}, note="007 and 7 are two customers")
    case("very long ids", "long_ids.csv",
         f"cid,day,amt\n{'x' * 500},2020-01-02,3\n{'y' * 500},2020-01-03,4\n", exit=0,
         ledger={"kept": 2})
    case("duplicate rows", "dupes.csv", GOOD + "1,2020-01-02,10.50\n", exit=0,
         warnings=["LARGE DROP: rule duplicates", "drop_duplicates: false"],
         ledger={"duplicates": 1, "kept": 3})
    # -- real exports (issue 14): nothing silently lost, invented or changed ----------------
    order_cols = {"columns": {"customer_id": "Customer ID", "date": "Order Date",
                              "amount": "Sales", "order_id": "Order ID"},
                  "date_format": "%m/%d/%Y"}
    case("region-coded order ids are not cancellations", "superstore.csv", _superstore(),
         params=order_cols, exit=0, ledger={"cancellations": 1, "kept": 11},
         note="CA-2016-152156 starts with C but no digit follows: only C536379 is a "
              "cancellation (and its revenue is negative, so no large-drop warning)")
    case("a letter-only cancel rule that eats the file warns loudly", "superstore2.csv",
         _superstore(), params={**order_cols, "cancel_pattern": "^C"}, exit=0,
         warnings=["LARGE DROP: rule cancellations removed 9 of 12 rows",
                   "order_id=CA-2014-", "set cancel_pattern"],
         ledger={"cancellations": 9, "kept": 3})
    case("R export with NA for missing", "r_export.csv",
         '"cid","day","amt","country"\n' + "".join(
             f'"{c}","2020-0{1 + i % 9}-1{i % 10}",{a},"{k}"\n' for i, (c, a, k) in
             enumerate([("17850", 15.3, "United Kingdom"), ("NA", 22.0, "NA"),
                        ("13047", 9.9, "NA"), ("17850", 4.5, "United Kingdom"),
                        ("12583", 40.0, "France"), ("13047", 3.3, "United Kingdom"),
                        ("NA", 7.0, "France"), ("12583", 12.0, "France"),
                        ("17850", 8.8, "United Kingdom"), ("14688", 6.0, "NA"),
                        ("14688", 2.5, "United Kingdom"), ("13047", 5.0, "N/A"),
                        ("12583", 1.0, "#N/A"), ("17850", 2.0, "-"), ("14688", 3.0, "null"),
                        ("12583", 4.0, "France"), ("13047", 5.5, "NULL"),
                        ("17850", 6.5, "United Kingdom"), ("14688", 7.5, "None"),
                        ("12583", 8.5, "nan"), ("13047", 9.5, "United Kingdom")])),
         params={"dimensions": ["country"]}, exit=0,
         warnings=["LARGE DROP: rule missing_customer_id removed 2 of 21 rows",
                   "customer_id=missing", "country=NA"],
         ledger={"missing_customer_id": 2, "kept": 19},
         note="'NA' is a missing id (counted by missing_customer_id), not a customer named "
              "NA; in a dimension it stays a value (North America), as "
              "dimension_missing_values says")
    case("amount too large to count in cents", "huge_amount.csv",
         GOOD + "3,2020-03-01,1e300\n", contains=["'amt'", "too large to count exactly",
                                                   "1e300", "line 5"])
    case("amounts whose total overflows", "huge_total.csv",
         "cid,day,amt\n" + "".join(f"{i},2020-01-{1 + i % 28:02d},9000000000000\n"
                                   for i in range(90)),
         contains=["'amt'", "add up to", "summed exactly"])
    case("profit column with loss-making rows", "profit_losses.csv",
         "cid,day,sales,profit\n1,2020-01-02,100.00,25.00\n1,2020-02-03,80.00,-12.50\n"
         "2,2020-01-05,40.00,-40.00\n3,2020-03-01,10.00,1.10\n",
         params={"columns": {"customer_id": "cid", "date": "day", "amount": "sales",
                             "profit": "profit"}}, exit=0,
         ledger={"non_positive_price": 0, "cancellations": 0, "kept": 4},
         note="a negative profit is not a non-positive price: every row stays")
    case("sub-cent amounts get a rounding line", "subcent.csv",
         "cid,day,amt\n1,2020-01-02,0.125\n2,2020-01-03,1.005\n1,2020-02-10,2.675\n"
         "3,2020-02-11,0.333\n3,2020-02-12,0.333\n3,2020-02-13,0.333\n",
         exit=0, ledger={"rounding": 0, "kept": 6},
         note="the file totals 4.804; the rows round to 0.12 + 1.00 + 2.68 + 3 x 0.33 = 4.79, "
              "so the input line says 4.80 and the rounding line 0.01")
    case("xlsx with the data on the second sheet", "two_sheets.xlsx",
         lambda p: _two_sheets(p), contains=["'cid'", "not in the sheet", "sheet"])
    case("xlsx second sheet chosen", "two_sheets_ok.xlsx", lambda p: _two_sheets(p),
         params={"sheet": "orders"}, exit=0, ledger={"kept": 3})
    case("xlsx with merged header cells", "merged_header.xlsx", lambda p: _merged(p),
         contains=["not in the sheet", "columns are"])
    case("parquet with wrong types", "wrong_types.parquet",
         pd.DataFrame({"cid": [1, 2], "day": ["2020-01-02", "someday"], "amt": ["1", "2"]}),
         contains=["'day'", "could not be read as a date", "someday"])
    case("parquet with integer ids and dates", "int_types.parquet",
         pd.DataFrame({"cid": [1, 2], "day": [20200102, 20200103], "amt": [1.5, 2.0]}),
         params={"date_format": "%Y%m%d"}, exit=0, ledger={"kept": 2})
    case("unknown parameter", "good.csv", GOOD, params={"colour": "blue"},
         contains=["unknown parameter 'colour'"])
    case("parameter of the wrong type", "good2.csv", GOOD, params={"seed": "forty-two"},
         contains=["'seed'", "whole number"])
    case("yaml with a python tag", "good3.csv", GOOD,
         params={"__raw__": "dataset: !!python/object/apply:os.system ['echo pwned']\n"},
         contains=["not valid safe YAML"])
    case("data path is a directory", None, None, contains=["directory"])
    case("data path does not exist", "does_not_exist.csv", None, contains=["not found"])
    # the run works; the CLV stage says the data are too thin to model (issue 15)
    case("single customer", "one_customer.csv",
         "cid,day,amt\n1,2020-01-02,3\n1,2020-02-03,4\n1,2020-05-03,5\n", command="run", exit=0,
         params={"clv_bootstrap": 0}, ledger={"kept": 3},
         warnings=["CLV: the window (123 days) holds only 2.0 typical gaps",
                   "CLV: only 1 customers for the 4 parameters",
                   "CLV: only 1 repeat buyers (at least 100 advised)"])
    case("single transaction", "one_row.csv", "cid,day,amt\n1,2020-01-02,3\n", command="run",
         exit=0, params={"clv_bootstrap": 0}, ledger={"kept": 1},
         warnings=["CLV: 100% of customers bought only once", "CLV: only 1 customers",
                   "CLV: only 0 repeat buyers"])
    case("all customers one-time buyers", "one_timers.csv",
         "cid,day,amt\n" + "".join(f"{i},2020-{1 + i % 12:02d}-{1 + i % 27:02d},{5 + i}\n"
                                   for i in range(40)),
         command="run", exit=0, params={"clv_bootstrap": 0}, ledger={"kept": 40},
         warnings=["CLV: 100% of customers bought only once", "CLV: only 40 customers",
                   "CLV: only 0 repeat buyers"])
    case("output directory cannot be created", "good4.csv", GOOD, command="run-unwritable",
         contains=["output directory cannot be written"])
    (HERE / "cases.yaml").write_text(
        "# Generated by make_cases.py: the bad-input corpus and the expected outcome of each.\n"
        + yaml.safe_dump(CASES, sort_keys=False, allow_unicode=True), encoding="utf-8")
    print(f"{len(CASES)} cases")


def _superstore() -> str:
    """A Tableau-style order export: region-coded order ids (CA-2016-152156, US-2015-…),
    one genuine cancellation C536379 with a negative amount."""
    rows = [("CA-2016-152156", "CG-12520", "11/8/2016", "261.96"),
            ("CA-2016-152156", "CG-12520", "11/8/2016", "731.94"),
            ("CA-2016-138688", "DV-13045", "6/12/2016", "14.62"),
            ("US-2015-108966", "SO-20335", "10/11/2015", "957.5775"),
            ("US-2015-108966", "SO-20335", "10/11/2015", "22.368"),
            ("CA-2014-115812", "BH-11710", "6/9/2014", "48.86"),
            ("CA-2014-115812", "BH-11710", "6/9/2014", "7.28"),
            ("CA-2017-114412", "AA-10480", "4/15/2017", "15.552"),
            ("CA-2016-161389", "IM-15070", "12/5/2016", "407.976"),
            ("US-2015-118983", "HP-14815", "11/22/2015", "68.81"),
            ("CA-2014-105893", "PK-19075", "11/11/2014", "665.88"),
            ("C536379", "CG-12520", "12/1/2016", "-14.62")]
    return "Order ID,Customer ID,Order Date,Sales\n" + "".join(",".join(r) + "\n"
                                                               for r in rows)


def _two_sheets(path):
    with pd.ExcelWriter(path) as xw:
        pd.DataFrame({"note": ["see the orders sheet"]}).to_excel(xw, sheet_name="readme",
                                                                 index=False)
        pd.read_csv(pd.io.common.StringIO(GOOD), dtype=str).to_excel(xw, sheet_name="orders",
                                                                      index=False)


def _merged(path):
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.append(["customer", None, "amount"])
    ws.merge_cells("A1:B1")
    ws.append(["cid", "day", "amt"])
    ws.append(["1", "2020-01-02", 3])
    wb.save(path)


if __name__ == "__main__":
    build()
