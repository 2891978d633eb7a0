"""Issue 14: real exports in, nothing silently lost, invented or changed.

A Tableau 'Superstore'-style export (tests/fixtures/make_superstore.py: region-coded order
ids that start with the cancel letter, US dates, a Profit column with losses, ties) runs
through the real CLI twice, plain and anonymised; the small rules are unit-tested below."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import clv, config, pipeline, report, runfolder
from analysis.stage1 import clean, load, parse, privacy
from analysis.errors import InputError
from conftest import ROOT, run_cli

BASE = {"columns": {"customer_id": "c", "date": "d", "amount": "a"}}

SUPERSTORE = ROOT / "tests" / "fixtures" / "superstore_small.csv"
PARAMS = ROOT / "params" / "superstore.yaml"
SALT = "salt-for-the-tie-test"
LABELS = ["first_purchase", "last_purchase", "n_orders", "frequency", "recency", "T",
          "monetary_value", "revenue", "profit", "abc_tier", "r_score", "f_score", "m_score",
          "rfm_segment", "cluster", "lifecycle_stage", "historical_clv", "p_alive",
          "expected_purchases", "predicted_clv", "clv_tier", "recommended_action", "Region"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The export run plain and anonymised (same data, same parameters otherwise)."""
    base = tmp_path_factory.mktemp("superstore")
    out = {}
    for name, extra in (("plain", []), ("anon", ["-p", "anonymize=true", "-p",
                                                  f"anonymize_salt={SALT}"])):
        proc = run_cli("run", str(SUPERSTORE), "--params", str(PARAMS), "--out",
                       str(base / name), *extra)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[name] = base / name
    return out


@pytest.mark.slow
def test_region_coded_order_ids_are_not_cancellations_and_losses_stay(runs):
    ledger = pd.read_csv(runs["plain"] / "cleaning_ledger.csv").set_index("step")
    raw = pd.read_csv(SUPERSTORE)
    assert raw["Order ID"].str.startswith("C").mean() > 0.7  # the default letter...
    assert ledger.at["cancellations", "rows"] == 0            # ...but no digit follows it
    assert ledger.at["non_positive_price", "rows"] == 0
    assert ledger.at["kept", "rows"] == len(raw) and (raw["Profit"] < 0).sum() > 100
    # the input line is the file's own total; rounding each row to the cent moved it
    assert ledger.at["input", "revenue"] == pytest.approx(round(raw["Sales"].sum(), 2), abs=0.005)
    assert ledger.at["input", "revenue"] == pytest.approx(
        ledger.drop(index="input")["revenue"].sum(), abs=1e-6)
    manifest = json.loads((runs["plain"] / "manifest.json").read_text())
    assert not any(w.startswith("LARGE DROP") for w in manifest["warnings"])


@pytest.mark.slow
def test_clv_is_discounted_profit_when_a_profit_column_is_mapped(runs):
    customers = pd.read_csv(runs["plain"] / "customers.csv", dtype={"customer_id": str})
    raw = pd.read_csv(SUPERSTORE)
    raw["date"] = pd.to_datetime(raw["Order Date"], format="%m/%d/%Y")
    sales = np.rint(raw["Sales"] * 100)
    raw["profit_cents"] = np.rint(raw["Profit"] * 100)
    expected_profit = raw.groupby("Customer ID")["profit_cents"].sum() / 100
    got = customers.set_index("customer_id")
    assert np.allclose(got["profit"], expected_profit.reindex(got.index), atol=0.005)
    assert (got["profit"] < 0).any()  # a loss-making customer is shown, not dropped
    # Σₜ (Rₜ − Cₜ)/(1+d)ᵗ, t = months since the first purchase month, independently
    d = (1 + 0.10) ** (1 / 12) - 1
    month = raw["date"].dt.year * 12 + raw["date"].dt.month
    raw["t"] = month - month.groupby(raw["Customer ID"]).transform("min")
    raw["cents"] = raw["profit_cents"]
    per = raw.groupby(["Customer ID", "t"])["cents"].sum().reset_index()
    per["v"] = per["cents"] / 100 / (1 + d) ** per["t"]
    hist = per.groupby("Customer ID")["v"].sum()
    assert np.allclose(got["historical_clv"], hist.reindex(got.index), atol=0.005)  # to the cent
    assert sales.sum() / 100 != pytest.approx(got["historical_clv"].sum(), rel=0.1)
    metrics = json.loads((runs["plain"] / "metrics.json").read_text())
    assert metrics["clv"]["definition"].startswith("profit") and metrics["clv"]["margin"] is None
    assert metrics["clv"]["status"] == "ok" and metrics["clv"]["predicted_clv_total"] > 0
    page = (runs["plain"] / "report" / "index.html").read_text()
    assert "CLV here is profit: revenue minus each row" in page
    assert "Net revenue minus cost" in (runs["plain"] / "data_dictionary.md").read_text()


@pytest.mark.slow
def test_anonymising_changes_no_label_no_figure(runs):
    plain = pd.read_csv(runs["plain"] / "customers.csv", dtype={"customer_id": str})
    anon = pd.read_csv(runs["anon"] / "customers.csv", dtype={"customer_id": str})
    plain["customer_id"] = privacy.hash_ids(plain["customer_id"], SALT)
    # the data has ties that hashing re-orders, so a tie-break on the id text would differ
    rev = plain.groupby("revenue")["customer_id"].agg(list)
    tied = [ids for ids in rev if len(ids) > 1]
    raw_order = pd.read_csv(runs["plain"] / "customers.csv", dtype={"customer_id": str})
    assert len(tied) > 20
    assert any(sorted(ids) != ids for ids in tied), "no tie that hashing re-orders"
    assert raw_order["customer_id"].is_monotonic_increasing  # table order: raw ids
    # anonymised, the rows are in the order of the hashes: row N is not the N-th raw id
    assert anon["customer_id"].is_monotonic_increasing
    merged = plain.merge(anon, on="customer_id", suffixes=("", "_anon"), validate="1:1")
    assert len(merged) == len(plain) == len(anon)
    for col in LABELS:
        a, b = merged[col], merged[f"{col}_anon"]
        same = (a == b) | (a.isna() & b.isna())
        assert same.all(), (col, merged.loc[~same, ["customer_id", col, f"{col}_anon"]].head())
    m_plain = json.loads((runs["plain"] / "metrics.json").read_text())
    m_anon = json.loads((runs["anon"] / "metrics.json").read_text())
    assert m_plain == m_anon
    for name in ("manifest.json", "stage1.json", "metrics.json", "customers.csv"):
        text = (runs["anon"] / name).read_text()
        assert "AA-10000" not in text and SALT not in text


def test_profit_mapped_as_the_amount_warns_loudly(tmp_path, capsys):
    """The mistake the issue saw: Profit as the amount drops every loss-making row (here,
    with no quantity mapped, as a return). Now that is a LARGE DROP warning that says what
    to map instead."""
    from analysis.__main__ import main
    params = tmp_path / "p.yaml"
    params.write_text("columns: {customer_id: Customer ID, date: Order Date, amount: Profit,"
                      " order_id: Order ID}\ndate_format: '%m/%d/%Y'\n")
    assert main(["check", str(SUPERSTORE), "--params", str(params)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "LARGE DROP: rule cancellations" in x)
    assert "map it as columns.profit" in line and "e.g. {customer_id=" in line


def test_margin_ratio_own_for_repeat_buyers_population_for_the_rest():
    customers = pd.DataFrame({"revenue": [100.0, 200.0, 50.0, 0.0],
                              "profit": [25.0, -20.0, 10.0, 0.0],
                              "frequency": [2.0, 1.0, 0.0, 0.0]})
    margin = {m: config.typed({**BASE, "margin": m}).clv for m in (0.3, 1.0)}
    ratio = clv.margin_ratio(customers, margin[0.3])
    population = (25 - 20 + 10) / 350
    assert ratio.tolist() == pytest.approx([0.25, -0.10, population, population])
    no_costs = customers.drop(columns="profit")
    assert clv.margin_ratio(no_costs, margin[0.3]).tolist() == [0.3] * 4
    assert clv.definition(no_costs, margin[1.0]).startswith("revenue")
    assert clv.definition(no_costs, margin[0.3]).startswith("margin: 30%")


def test_cost_or_profit_columns_give_the_row_cost(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("cid,day,amt,profit\n1,2020-01-02,10.00,-2.50\n2,2020-01-03,4.005,1\n")
    cfg = config.typed({"columns": {"customer_id": "cid", "date": "day",
                                    "amount": "amt", "profit": "profit"}})
    tx = load.load_transactions(path, cfg.read)
    assert tx["cost"].tolist() == [12.50, 3.0]  # 4.005 rounds to 4.00 (half to even)
    with pytest.raises(config.ParamError, match="cost or profit, not both"):
        config.resolve(None, {"columns": {"customer_id": "cid", "date": "day", "amount": "a",
                                          "cost": "c", "profit": "p"}})


def test_missing_words_are_missing_in_every_text_column():
    s = pd.Series([" NA ", "n/a", "#N/A", "null", "None", "-", "NAB", "Nancy", "(blank)", "7"],
                  dtype="str")
    got = parse.as_text(s, config.typed(BASE).read.missing_tokens)
    assert got.isna().tolist() == [True] * 6 + [False, False, True, False]
    nab = config.typed({**BASE, "missing_values": ["nab"]}).read.missing_tokens
    assert parse.as_text(s, nab).isna().sum() == 1
    with pytest.raises(config.ParamError, match="must not hold numbers"):
        config.resolve(None, {"columns": {"customer_id": "c", "date": "d", "amount": "a"},
                              "missing_values": ["", "0"]})


def test_the_cancellation_pattern_needs_a_digit_after_the_prefix():
    df = pd.DataFrame({"order_id": pd.array(["C536379", "CA-2016-152156", "536380", None,
                                             "RET-77"], dtype="str"),
                       "amount": [1.0] * 5})
    cfg = config.typed(BASE)
    assert clean.cancel_marked(df, cfg.clean).tolist() == [True, False, False, False, False]
    assert clean.cancel_marked(df, cfg.replace(cancel_pattern="RET-").clean).tolist() == \
        [False, False, False, False, True]
    assert clean.cancel_marked(df, cfg.replace(cancel_prefix=None).clean).sum() == 0
    with pytest.raises(config.ParamError, match="not a valid regular expression"):
        config.resolve(None, {"columns": {"customer_id": "c", "date": "d", "amount": "a"},
                              "cancel_pattern": "C("})


def test_spreadsheet_exports_neutralise_formulas(tmp_path):
    customers = pd.DataFrame({"customer_id": pd.array(["=HYPERLINK(\"http://x\")", "+1",
                                                       "-2", "@SUM(A1)", "ok"], dtype="str"),
                              "revenue": [-1.0, 2.0, 3.0, 4.0, 5.0]})
    runfolder.export_customers(tmp_path, customers)
    back = pd.read_csv(tmp_path / "customers.csv", dtype=str)
    assert back["customer_id"].tolist() == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2",
                                            "'@SUM(A1)", "ok"]
    assert back["revenue"].tolist()[0] == "-1.0"  # numbers stay numbers
    from openpyxl import load_workbook
    report.write_xlsx(tmp_path / "c.xlsx", {"customers": customers})
    ws = load_workbook(tmp_path / "c.xlsx").active
    assert [c.value for c in ws["A"]][1:] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2",
                                              "'@SUM(A1)", "ok"]
    assert ws["B2"].value == -1


def test_no_raw_id_in_warnings_or_digests_when_anonymising(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("cid,day,amt\n98765.0,2020-01-02,3\n98765.0,2020-02-02,4\n"
                    "11111.0,2020-03-02,abc\n")
    cfg = config.typed({"columns": {"customer_id": "cid", "date": "day", "amount": "amt"},
                        "anonymize": True, "anonymize_salt": "s1"})
    with pytest.raises(InputError) as err:
        load.load_transactions(path, cfg.read)
    assert "11111" not in str(err.value) and "hash:" in str(err.value)
    path.write_text("cid,day,amt\n98765.0,2020-01-02,3\n98765.0,2020-02-02,4\n")
    warnings: list[str] = []
    load.load_transactions(path, cfg.read, warnings)
    assert warnings and not any("98765" in w for w in warnings)
    key_a = pipeline.input_key(path, cfg)
    key_b = pipeline.input_key(path, cfg.replace(anonymize_salt="another"))
    assert key_a["params_sha256"] == key_b["params_sha256"]  # the salt is not in the digest
