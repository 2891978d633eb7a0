"""Forecasts validated in money over several calibration ends (issue 32): the rolling
origins, the range that includes the model's backtest error and its coverage, the NBD
limit where no customer loss can be seen, the spend model's fallback, and no bootstrap of
a fit that is not used."""
import json
import re

import numpy as np
import pandas as pd
import pytest

from analysis import clv
from analysis.clv import backtest, spend as spend_model
from analysis.clv.simulate import bgnbd_log
from analysis.narrative.stages import model_choice_text
from analysis.units import BACKTEST_STEP_DAYS, backtest_origins
from conftest import run_clv


def _run(tx, **over):
    """The CLV stage undiscounted (so its total compares with the next year's revenue)."""
    res, customers, _ = run_clv(tx, **{"discount_rate": 0.0, **over})
    return res, customers


def _split(full: pd.DataFrame, days: int):
    """The log up to ``days`` after its start, and the next purchases of its customers."""
    cut = full["date"].min().normalize() + pd.Timedelta(days=days)
    seen = full[full["date"] < cut]
    return seen, full[(full["date"] >= cut) & full["customer_id"].isin(seen["customer_id"])]


def test_origins_step_back_a_quarter_with_holdouts_of_one_length():
    start, end = pd.Timestamp("2020-01-01"), pd.Timestamp("2021-12-31")
    cal_end = pd.Timestamp("2021-03-01")
    found = backtest_origins(start, end, cal_end)
    assert found[0] == (cal_end, end) and 2 <= len(found) <= 4
    hold = end - cal_end
    for k, (origin, hold_end) in enumerate(found):
        assert origin == cal_end - pd.Timedelta(days=BACKTEST_STEP_DAYS * k)
        assert hold_end - origin == hold and hold_end <= end
        assert origin - start >= hold / 4
    assert backtest_origins(start, end, end) == []


def test_the_stated_range_is_at_least_the_backtests_spread_and_coverage_leaves_one_out():
    error = {"predicted": [100.0, 100.0, 100.0], "actual": [120.0, 90.0, 110.0],
             "ratios": [1.2, 0.9, 1.1]}
    got = backtest.stated_range(1000.0, [950.0, 1050.0], error)
    lo, hi = got["range"]
    assert (lo, hi) == pytest.approx((950 * 0.9, 1050 * 1.2))
    assert (hi - lo) / 1000 >= max(error["ratios"]) - min(error["ratios"])
    # leave one out: 120 against 100 × [0.9, 1.1] misses; 90 against [1, 1.2] misses;
    # 110 against [0.9, 1.2] is covered
    assert got["coverage"] == {"covered": 1, "of": 3}
    one = backtest.stated_range(1000.0, None, {**error, "ratios": [0.8]})
    assert one["range"] == pytest.approx([800.0, 1000.0]) and one["coverage"] is None


@pytest.fixture(scope="module")
def no_dropout(monkeypatch_module):
    """A Superstore-like log: 800 customers over four years who keep buying every two
    months or so and never leave (BG/NBD with a -> 0), and their next year."""
    full = bgnbd_log(800, 2.0, 120.0, 1e-4, 2.4, 4 * 365 + 365, seed=32,
                     start="2014-01-01")
    seen, future = _split(full, 4 * 365)
    bootstrapped = []
    real = clv.stage.interval_estimates

    def counted(customers, params, fitter, *args, **kwargs):
        bootstrapped.append(type(fitter).name)
        return real(customers, params, fitter, *args, **kwargs)
    monkeypatch_module.setattr(clv.stage, "interval_estimates", counted)
    res, customers = _run(seen, clv_bootstrap=20)
    return res, customers, future, bootstrapped


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_without_visible_drop_out_the_nbd_limit_gives_a_clv_near_the_truth(no_dropout):
    res, customers, future, bootstrapped = no_dropout
    assert (customers["frequency"] > 0).mean() > 0.9
    table = {e["model"]: e for e in res.stats["comparison"]}
    assert all(table[m]["fit_status"] != "sound" for m in ("BG/NBD", "MBG/NBD", "Pareto/NBD"))
    assert res.status == "ok", res.status
    assert res.stats["model"] == "NBD" and res.stats["model_choice"] == "limit"
    truth = future["amount"].sum()  # the next 12 months' revenue, undiscounted, margin 1
    assert res.stats["predicted_clv_total"] == pytest.approx(truth, rel=0.05)
    # the bootstrap ran for the model used only, never for the degenerate fits
    assert bootstrapped == ["NBD"]
    b = res.stats["backtests"]
    assert b["error"]["basis"] == "revenue" and len(b["origins"]) >= 2
    lo, hi = b["range"]
    assert lo <= res.stats["predicted_clv_total"] <= hi
    assert "no customer loss can be seen" in model_choice_text("limit")


def test_a_log_drawn_from_bgnbd_keeps_a_model_with_drop_out():
    full = bgnbd_log(2000, 0.25, 28.0, 0.8, 2.4, 730 + 365, seed=11)
    seen, future = _split(full, 730)
    res, _ = _run(seen)
    assert res.stats["model"] in ("BG/NBD", "MBG/NBD", "Pareto/NBD")
    assert res.stats["model_choice"] == "holdout"
    assert "NBD" not in {e["model"] for e in res.stats["comparison"]}
    assert res.stats["predicted_clv_total"] == pytest.approx(future["amount"].sum(), rel=0.1)
    set_bgnbd, _ = _run(seen, clv_model="bgnbd")
    assert set_bgnbd.stats["model"] == "BG/NBD" and set_bgnbd.status == "ok"


def test_a_failed_gamma_gamma_is_named_and_the_shrunk_mean_is_used(monkeypatch):
    def fails(*args, **kwargs):
        raise FloatingPointError("q <= 1")
    monkeypatch.setattr(spend_model, "fit_gamma_gamma", fails)
    full = bgnbd_log(1500, 0.25, 28.0, 0.8, 2.4, 730, seed=5)
    res, customers = _run(full)
    entry = res.stats["spend_model"]
    assert entry["model"] == "shrunk mean" and entry["gamma_gamma_failure"] is not None
    assert res.stats["gamma_gamma"] is None
    assert any("Gamma-Gamma spend model was not used" in str(w) and "q <= 1" in str(w)
               for w in res.stats["warnings"])
    assert res.status == "ok" and res.table["predicted_clv"].notna().all()
    # a one-time buyer gets the population's mean spend
    one = customers["frequency"].to_numpy() == 0
    spend = res.ggf.expected_spend(customers["frequency"], customers["monetary_value"])
    assert np.allclose(spend[one], entry["params"]["mean"])


def test_the_shrunk_mean_estimates_the_credibility_weight_by_moments():
    """Customers' own means ~ N(100, 10²), purchases ~ N(own mean, 30²): k = 30²/10² = 9."""
    rng = np.random.default_rng(4)
    n = 20_000
    x = rng.integers(1, 12, n).astype("float64")
    own = rng.normal(100, 10, n)
    m = own + rng.normal(0, 30, n) / np.sqrt(x)
    fitted = spend_model.ShrunkMean.estimate((x, m))
    assert fitted.params_["mean"] == pytest.approx(100, rel=0.02)
    assert fitted.params_["k"] == pytest.approx(9, rel=0.25)
    # a customer with k repeat purchases sits half way between their mean and the mean
    k = fitted.params_["k"]
    half = fitted.expected_spend(np.array([k]), np.array([80.0]))[0]
    assert half == pytest.approx((80.0 + fitted.params_["mean"]) / 2)


def test_cdnow_page_shows_the_money_error_and_a_range_with_its_coverage(cdnow_run):
    out, _ = cdnow_run
    m = json.loads((out / "metrics.json").read_text())["clv"]
    b = m["backtests"]
    assert len(b["origins"]) >= 2 and b["error"]["basis"] == "revenue"
    assert m["holdout"]["revenue_actual"] > 0 and m["holdout"]["revenue_predicted"] > 0
    ratios = b["error"]["ratios"]
    lo, hi = b["range"]
    total = m["predicted_clv_total"]
    assert (hi - lo) / total >= max(ratios) - min(ratios)
    ci = m["intervals"]["total_predicted_clv"]
    assert lo <= ci[0] and hi >= ci[1]  # at least as wide as the estimates' interval
    assert b["coverage"]["of"] == len(ratios)
    text = re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", (out / "report" / "index.html")
                                      .read_text(encoding="utf-8")))
    assert "In money:" in text and "backtests" in text
    assert f"covered what happened in {b['coverage']['covered']} of" in text
    assert "correlate at" in text  # the spend model's independence check, in figures
