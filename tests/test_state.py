"""Issue 30 on an ERP-style B2B export run through the CLI as a new user would: a region
"NA" that is North America, a big tie at the tier-A cut, two thousand one-order
customers. The page and metrics are filters of the customers table, equal histories share
every label, and ties are decided by value and reported, never by the id."""
from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from analysis import state
from analysis.risk import risk_columns
from analysis.units import TimeUnit, Window
from conftest import ROOT, assert_state_is_the_table, run_cli

sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
import make_erp  # noqa: E402

PARAMS = """dataset: erp
columns: {customer_id: Customer, date: Order Date, amount: Net Amount, order_id: Order No}
dimensions: [TERRITORY]
currency: EUR
"""


@pytest.fixture(scope="module")
def erp_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("erp")
    data, params = folder / "sales_2022_2023.csv", folder / "erp.yaml"
    make_erp.build().to_csv(data, index=False)
    params.write_text(PARAMS)
    out = folder / "run"
    # bootstrap intervals off: this test is about the customer table (and costs seconds)
    proc = run_cli("run", str(data), "--params", str(params), "--out", str(out),
                   "-p", "clv_bootstrap=0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, data


@pytest.mark.slow
def test_erp_export_page_is_filters_of_the_table(erp_run):
    out, data = erp_run
    c = assert_state_is_the_table(out)
    raw = pd.read_csv(data, keep_default_na=False)
    # "NA" is North America: a region of its own, counted as in the file
    want = raw.drop_duplicates("Customer")["TERRITORY"].value_counts()
    table = pd.read_csv(out / "customers.csv", keep_default_na=False)
    assert table["TERRITORY"].value_counts().to_dict() == want.to_dict()
    assert want["NA"] > 1000 and pd.read_parquet(out / "customers.parquet")["TERRITORY"] \
        .notna().all()
    page = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert ">NA<" in page  # the dimension table's row
    # the 400 customers tied at 250.00 across the tier-A cut share one tier, and it is said
    tied = c[c["revenue"] == make_erp.TIED_VALUE]
    assert len(tied) == make_erp.TIED and set(tied["abc_tier"]) == {"A"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["abc"]["ties"] == [{"tier": "A", "value": 250.0, "customers": 400,
                                       "places": 50}]
    nb02 = (out / "notebooks" / "02_value_tiers.ipynb").read_text(encoding="utf-8")
    assert "400 customers have exactly 250.00 EUR of revenue where tier A ends" in nb02
    # two thousand one-order customers: all F = 1, none a Champion ("buy often")
    one = c[c["n_orders"] == 1]
    assert len(one) == make_erp.TIED + make_erp.ONE_TIME
    assert (one["f_score"] == 1).all() and not (one["rfm_segment"] == "Champions").any()
    assert "F uses 1, 4, 5" in (out / "notebooks" / "03_segments.ipynb").read_text()


def test_value_at_risk_is_the_value_had_they_stayed_times_the_chance_they_left():
    customers = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"], "revenue": [100.0, 50.0, 80.0, 0.0],
        "frequency": [4, 2, 0, 1], "recency": [40.0, 100.0, 0.0, 10.0],
        "last_purchase": pd.to_datetime(["2020-02-10", "2020-04-10", "2020-01-01",
                                         "2020-01-11"]),
        "p_alive": [0.25, 0.9, 0.2, 0.1], "predicted_clv": [20.0, 90.0, 10.0, np.nan],
        "recommended_action": ["Win back", "Retain and reward", "Low-cost maintenance",
                               "Low-cost maintenance"]})
    window = Window(pd.Timestamp("2020-01-01"), pd.Timestamp("2020-12-31"), TimeUnit("day"))
    cols = risk_columns(customers, window)
    # a: 20 / 0.25 = 80 had they stayed, 60 of it at risk; usual gap 10 days, 325 since
    assert cols["value_at_risk"].tolist()[:3] == pytest.approx([60.0, 10.0, 40.0])
    assert np.isnan(cols["value_at_risk"].iloc[3])
    assert cols["usual_gap_days"].iloc[0] == 10 and cols["days_since_last"].iloc[0] == 325
    # at risk: overdue against their own gap, P(alive) below 0.5, some revenue; c never
    # bought twice (no own rhythm), d has no revenue
    assert cols["at_risk"].tolist() == [True, False, False, False]
    table = state.run(customers, window).table
    g = state.group(table, "at_risk")
    assert (g["customers"], g["revenue"], g["value_at_risk"]) == (1, 100.0, 60.0)
    assert g["actions"] == {"Win back": 1}
