"""What changed since a previous run (issue 34, part 2): bad previous runs refused in one
line, the previous forecast against what happened on CDNOW, and a known campaign effect
recovered against the control group."""
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from lifetimes import ModifiedBetaGeoFitter

from analysis.clv.simulate import bgnbd_log
from conftest import CDNOW, CDNOW_PARAMS, run_cli

SPLIT = "1997-12-31"


@pytest.fixture(scope="module")
def cdnow_two_runs(tmp_path_factory):
    """CDNOW to 1997-12-31, then the whole file with that run as previous_run."""
    base = tmp_path_factory.mktemp("changes")
    first, second = base / "first", base / "second"
    for out, extra in ((first, ["-p", f"observation_end={SPLIT}", "-p", "clv_bootstrap=0"]),
                       (second, ["-p", f"previous_run={first}", "-p", "clv_bootstrap=0"])):
        proc = run_cli("run", str(CDNOW), "--params", str(CDNOW_PARAMS), "--out", str(out),
                       *extra)
        assert proc.returncode == 0, proc.stderr[-2000:]
    return first, second


def test_the_previous_forecast_equals_an_independent_computation_on_cdnow(cdnow_two_runs):
    first, second = cdnow_two_runs
    ch = json.loads((second / "metrics.json").read_text())["changes"]
    prev = json.loads((first / "metrics.json").read_text())["clv"]
    before = pd.read_parquet(first / "customers.parquet")
    f = ch["forecast"]
    assert (ch["since"], f["days"]) == (SPLIT, 181.0)
    # the prediction: lifetimes' own conditional expectation with the first run's estimates
    assert prev["model"] == f["model"] == "MBG/NBD"
    ref = ModifiedBetaGeoFitter()
    ref.params_ = pd.Series(prev["params"])
    expected = ref.conditional_expected_number_of_purchases_up_to_time(
        181 / 7, before["frequency"], before["recency"], before["T"])
    assert f["predicted_purchases"] == pytest.approx(float(expected.sum()), rel=1e-9)
    # what happened: repeat purchase days after the split, from the raw file
    raw = pd.read_csv(CDNOW, sep=r"\s+", dtype={"customer_id": str, "date": str})
    later = raw[pd.to_datetime(raw["date"], format="%Y%m%d") > pd.Timestamp(SPLIT)]
    assert f["actual_purchases"] == later.drop_duplicates(["customer_id", "date"]).shape[0]
    assert f["actual_revenue"] == pytest.approx(later["dollar_value"].sum(), abs=0.01)
    # movement: every customer is in both runs; the lifecycle transitions add up
    moves = ch["transitions"]["lifecycle_stage"]
    assert sum(n for row in moves.values() for n in row.values()) == ch["customers_both"]
    nb05 = (second / "notebooks" / "05_report.ipynb").read_text(encoding="utf-8")
    assert "abc_tier then" in nb05 and "win_back" in nb05  # the matrices and uplift table
    page = (second / "report" / "index.html").read_text(encoding="utf-8")
    assert f"What changed since {SPLIT}" in page and f"{f['actual_purchases']:,.0f} happened" \
        in page


def test_a_known_campaign_effect_is_recovered_against_the_control_group(tmp_path):
    """Customers the first run listed and did not hold back get an extra purchase (30 % of
    them, drawn at random) after its end; the control group gets none. The second run's
    uplift interval holds the effect; the control group bought as it would have."""
    full = bgnbd_log(3000, 0.25, 28.0, 0.8, 2.4, 730 + 120, seed=34, start="2020-01-01")
    cut = pd.Timestamp("2020-01-01") + pd.Timedelta(days=730)
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({
        "columns": {"customer_id": "customer_id", "date": "date", "amount": "amount"},
        "date_format": "%Y-%m-%d", "time_unit": "week", "clv_bootstrap": 0,
        "control_share": 0.5, "dataset": "generated"}))
    first_csv = tmp_path / "first.csv"
    full[full["date"] < cut].to_csv(first_csv, index=False, date_format="%Y-%m-%d")
    first = tmp_path / "first"
    proc = run_cli("run", str(first_csv), "--params", str(params), "--out", str(first))
    assert proc.returncode == 0, proc.stderr[-2000:]
    lists = pd.concat([pd.read_csv(p, dtype={"customer_id": str})
                       for p in (first / "campaigns").glob("*.csv")])
    contacted = lists.loc[~lists["control"], "customer_id"]
    rng = np.random.default_rng(1)
    lifted = contacted[rng.random(len(contacted)) < 0.3]
    extra = pd.DataFrame({"customer_id": lifted, "date": cut + pd.Timedelta(days=10),
                          "amount": 20.0})
    second_csv = tmp_path / "second.csv"
    pd.concat([full, extra]).to_csv(second_csv, index=False, date_format="%Y-%m-%d")
    second = tmp_path / "second"
    proc = run_cli("run", str(second_csv), "--params", str(params), "--out", str(second),
                   "-p", f"previous_run={first}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    uplift = json.loads((second / "metrics.json").read_text())["changes"]["uplift"]
    later = full[full["date"] >= cut]
    for action, u in uplift.items():
        members = lists[lists["customer_id"].isin(
            pd.read_csv(first / "campaigns" / f"{action}.csv", dtype={"customer_id": str})
            ["customer_id"])]
        treated = members.loc[~members["control"], "customer_id"]
        control = members.loc[members["control"], "customer_id"]
        without = treated.isin(later["customer_id"]).mean()  # had nobody been contacted
        with_effect = (treated.isin(later["customer_id"]) | treated.isin(lifted)).mean()
        assert u["bought_contacted"] == pytest.approx(with_effect)
        assert u["bought_control"] == pytest.approx(control.isin(later["customer_id"]).mean())
        if u["contacted"] >= 300:  # enough customers for the interval to say something
            lo, hi = u["interval"]
            assert lo <= with_effect - without <= hi, action
            assert lo > 0, action


@pytest.mark.parametrize("case", ["not a run", "failed", "other dataset", "later"])
def test_a_bad_previous_run_is_one_line_and_exit_2(tmp_path, cdnow_two_runs, case):
    first, second = cdnow_two_runs
    prev = {"not a run": tmp_path, "later": second}.get(case)
    extra = []
    if case in ("failed", "other dataset"):
        prev = tmp_path / "copy"
        prev.mkdir()
        for name in ("customers.parquet", "metrics.json"):
            (prev / name).write_bytes((first / name).read_bytes())
        manifest = json.loads((first / "manifest.json").read_text())
        manifest["status" if case == "failed" else "dataset"] = \
            "failed" if case == "failed" else "elsewhere"
        (prev / "manifest.json").write_text(json.dumps(manifest))
    if case == "later":
        extra = ["-p", f"observation_end={SPLIT}"]
    out = tmp_path / "out"
    proc = run_cli("run", str(CDNOW), "--params", str(CDNOW_PARAMS), "--out", str(out),
                   "-p", f"previous_run={prev}", *extra)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) <= 2 and "previous_run" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
