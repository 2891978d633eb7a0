"""CLV: published figures (Fader, Hardie & Lee 2005; Fader & Hardie's Gamma-Gamma note),
agreement with lifetimes, holdout and degenerate data."""
import math

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter

from analysis import clv, config, pipeline
from analysis.narrative.describe import describe, parameter_table
from analysis.stage1 import aggregates, summary
from analysis.clv import models
from analysis.units import Window
from conftest import ROOT

SAMPLE = ROOT / "data" / "raw" / "CDNOW_sample.txt"
SAMPLE_PARAMS = ROOT / "params" / "cdnow_sample.yaml"


@pytest.fixture(scope="module")
def sample():
    cfg = config.typed(config.resolve(SAMPLE_PARAMS))
    _, customers, agg = pipeline.transaction_stage(SAMPLE, cfg)
    ch = agg.clv.calibration
    assert agg.clv.calibration_end == cfg.clv.calibration_end
    return cfg, agg, customers, ch


def test_bgnbd_reproduces_fader_hardie_lee_2005(sample):
    cfg, agg, customers, ch = sample
    assert len(ch) == 2357 and ch["T_cal"].max() == pytest.approx(38.86, abs=0.01)
    fitter = clv.fit_weighted("bgnbd", ch["frequency_cal"], ch["recency_cal"], ch["T_cal"])
    p = fitter.params_
    assert p["r"] == pytest.approx(0.243, abs=0.001)
    assert p["alpha"] == pytest.approx(4.414, abs=0.001)
    assert p["a"] == pytest.approx(0.793, abs=0.001)
    assert p["b"] == pytest.approx(2.426, abs=0.001)
    ll = fitter.loglik(ch["frequency_cal"], ch["recency_cal"], ch["T_cal"])
    assert ll == pytest.approx(-9582.4, abs=0.05)


def test_gamma_gamma_reproduces_fader_hardie(sample):
    cfg, agg, customers, ch = sample
    gg = clv.gamma_gamma_sample(ch["frequency_cal"], ch["monetary_value_cal"])
    assert gg["weight"].sum() == 946
    fitter = clv.fit_gamma_gamma(gg["frequency"], gg["monetary_value"], gg["weight"])
    assert fitter.params_["p"] == pytest.approx(6.25, abs=0.01)
    assert fitter.params_["q"] == pytest.approx(3.74, abs=0.01)
    assert fitter.params_["v"] == pytest.approx(15.44, abs=0.01)


def test_holdout_metrics_on_the_sample_are_the_published_fit(sample):
    cfg, agg, customers, ch = sample
    h = clv.holdout(agg.clv, cfg.clv, pd.Timestamp("1998-06-30"))
    assert h.status == "ok"
    m = h.metrics
    assert m["params"]["r"] == pytest.approx(0.243, abs=0.001)
    assert m["log_likelihood"] == pytest.approx(-9582.4, abs=0.05)
    assert m["gamma_gamma"]["customers"] == 946
    assert m["actual"] == ch["frequency_holdout"].sum()
    assert m["mae"] == pytest.approx(np.abs(h.frame["predicted_holdout"] - ch["frequency_holdout"]).mean())
    assert m["mae"] < m["naive_mae"]
    # tracking ends where the holdout counts end: calibration + holdout repeat purchase days
    total = ch["frequency_cal"].sum() + ch["frequency_holdout"].sum()
    assert h.tracking["actual_cumulative"].iloc[-1] == total
    assert h.tracking["model_cumulative"].is_monotonic_increasing
    cond = h.conditional
    assert cond["customers"].sum() == 2357 and list(cond.index)[-1] == "7+"


@pytest.mark.parametrize("penalizer", [0.0, 0.01])
def test_fast_fit_agrees_with_lifetimes(sample, penalizer):
    """Our BG/NBD and Gamma-Gamma fits (analytic gradients, unique triples as weights, cold
    or warm start) land where lifetimes' own fits do, with and without a penalizer."""
    cfg, agg, customers, ch = sample
    f, r, T = customers["frequency"], customers["recency"], customers["T"]
    u, _ = clv.unique_triples(f, r, T)
    ref = models.quiet(BetaGeoFitter(penalizer_coef=penalizer).fit, f, r, T)
    for start in (None, ref.params_.to_numpy() * 1.3):
        ours = clv.BetaGeo.estimate((u["frequency"], u["recency"], u["T"]), u["weight"],
                                    penalizer, start=start)
        np.testing.assert_allclose(ours.params_, ref.params_, rtol=2e-5)
    gg = clv.gamma_gamma_sample(customers["frequency"], customers["monetary_value"])
    rep = customers[(customers["frequency"] > 0) & (customers["monetary_value"] > 0)]
    gref = clv.GammaGamma.lifetimes_fit(rep["frequency"], rep["monetary_value"],
                                        penalizer=penalizer)
    for start in (None, gref.params_.to_numpy() * 0.8):
        gours = clv.GammaGamma.estimate((gg["frequency"], gg["monetary_value"]), gg["weight"],
                                        penalizer, start=start)
        np.testing.assert_allclose(gours.params_, gref.params_, rtol=2e-5)


def test_expected_purchases_equal_lifetimes(sample):
    """The hypergeometric term evaluated per distinct (x, T) pair gives lifetimes' numbers."""
    _, _, customers, _ = sample
    f, r, T = customers["frequency"], customers["recency"], customers["T"]
    bgf = clv.fit_weighted("bgnbd", f, r, T)
    for t in (1.0, 13.0, 52.0):
        np.testing.assert_allclose(
            clv.expected_purchases_fn(bgf, f, r, T)(t),
            bgf.conditional_expected_number_of_purchases_up_to_time(t, f, r, T), rtol=1e-12)


@pytest.mark.parametrize("unit", ["week", "day"])
def test_predicted_clv_equals_lifetimes_customer_lifetime_value(sample, unit):
    cfg = sample[0].replace(time_unit=unit, margin=0.3, discount_rate=0.12,
                            clv_horizon_months=6)
    _, customers, _ = pipeline.transaction_stage(SAMPLE, cfg)
    bgf = clv.fit_weighted("bgnbd", customers["frequency"], customers["recency"], customers["T"])
    gg = clv.gamma_gamma_sample(customers["frequency"], customers["monetary_value"])
    ggf = clv.fit_gamma_gamma(gg["frequency"], gg["monetary_value"], gg["weight"])
    ours = clv.predict(bgf, ggf, customers, cfg.clv)
    ref = ggf.customer_lifetime_value(bgf, customers["frequency"], customers["recency"],
                                      customers["T"], customers["monetary_value"], time=6,
                                      discount_rate=clv.monthly_rate(0.12),
                                      freq="W" if unit == "week" else "D")
    np.testing.assert_allclose(ours["predicted_clv"], 0.3 * ref.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(
        ours["p_alive"], bgf.conditional_probability_alive(customers["frequency"],
                                                           customers["recency"], customers["T"]))


def test_historical_clv_by_hand():
    cfg = config.typed({"columns": {"customer_id": "c", "date": "d", "amount": "a"},
                        "discount_rate": 0.12, "margin": 0.5}).clv
    tx = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
                       "date": pd.to_datetime(["2020-01-31", "2020-02-01", "2020-03-15",
                                               "2020-03-01"]),
                       "amount": [100.0, 50.0, 80.0, 10.0], "is_return": False})
    h = aggregates.historical_clv(tx, cfg)
    d = 1.12 ** (1 / 12) - 1
    exact = 0.5 * (100 + 50 / (1 + d) + 80 / (1 + d) ** 2)
    assert h["a"] == round(exact, 2) and h["a"] != exact  # to the cent
    assert h["b"] == pytest.approx(5.0)


def test_clv_tiers_are_20_60_20():
    c = pd.DataFrame({"customer_id": [f"c{i}" for i in range(11)]})
    tiers = clv.clv_tiers(c, pd.Series(np.arange(11.0)))
    assert tiers.value_counts().to_dict() == {"top": 3, "middle": 6, "bottom": 2}
    assert tiers.iloc[10] == "top" and tiers.iloc[0] == "bottom"
    assert clv.clv_tiers(c, pd.Series([np.nan] * 11)).eq("not estimated").all()


def _tx(rows):
    tx = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    tx["date"] = pd.to_datetime(tx["date"])
    tx["is_return"] = False
    return tx


def _run(tx, **over):
    cfg = config.typed({"columns": {"customer_id": "c", "date": "d", "amount": "a"},
                        "clv_bootstrap": 0, **over})
    customers = summary.customer_summary(tx, cfg.summary)
    window = Window(tx["date"].min(), tx["date"].max(), cfg.clv.time_unit)
    inputs = aggregates.clv_inputs(tx, cfg.clv, window, customers["customer_id"])
    res = clv.run(inputs, customers, window, cfg.clv)
    return res, customers


def test_no_repeat_buyers_is_a_status_not_a_crash():
    tx = _tx([(f"c{i}", f"2020-01-{i % 28 + 1:02d}", 10.0 + i) for i in range(40)])
    res, customers = _run(tx)
    assert res.status.startswith("not estimated: no repeat buyers")
    assert res.table["predicted_clv"].isna().all()
    assert res.table["historical_clv"].notna().all()
    assert (res.table["clv_tier"] == "not estimated").all()
    assert res.stats["holdout"]["status"].startswith("not validated")
    assert "could not be estimated" in describe(res, "en", "USD")
    assert "无法估计预测 CLV" in describe(res, "zh", "USD")


def test_too_few_customers():
    tx = _tx([("a", "2020-01-01", 5.0), ("a", "2020-02-01", 5.0), ("b", "2020-01-05", 1.0)])
    res, _ = _run(tx)
    assert res.status.startswith("not estimated: too few customers")


def test_fit_failure_is_reported(monkeypatch):
    rng = np.random.default_rng(1)
    rows = [(f"c{i}", f"2020-{m:02d}-{rng.integers(1, 28):02d}", 10.0)
            for i in range(60) for m in range(1, rng.integers(2, 8))]
    tx = _tx(rows)

    def boom(*a, **k):
        raise clv.ConvergenceError("no convergence")
    monkeypatch.setattr(clv.compare, "fit_weighted", boom)
    monkeypatch.setattr(clv.validation, "fit_weighted", boom)
    res, _ = _run(tx)
    assert "did not converge" in res.status and res.table["p_alive"].isna().all()
    assert res.stats["holdout"]["status"].startswith("not validated: the calibration fit")

    # a programming error is not a numerical failure: it is raised, never a status
    def bug(*a, **k):
        raise TypeError("unsupported operand")
    monkeypatch.setattr(clv.compare, "fit_weighted", bug)
    monkeypatch.setattr(clv.validation, "fit_weighted", bug)
    with pytest.raises(TypeError):
        _run(tx)


def test_frequency_spend_correlation_warns():
    rng = np.random.default_rng(3)
    rows = []
    for i in range(150):
        days = np.sort(rng.choice(365, size=1 + rng.integers(0, 8), replace=False))
        spend = 5.0 * len(days) + rng.normal(0, 2)  # spend grows with frequency
        rows += [(f"c{i:03d}", str(pd.Timestamp("2020-01-01") + pd.Timedelta(days=int(d))),
                  round(spend + rng.normal(0, 1), 2)) for d in days]
    res, _ = _run(_tx(rows))
    assert res.stats["frequency_monetary_corr"] > 0.3
    assert any("correlated" in w for w in res.stats["warnings"])


def test_bootstrap_is_seeded_and_independent_of_workers(sample):
    cfg, agg, customers, _ = sample
    window = agg.window
    res = clv.run(agg.clv, customers, window, cfg.replace(clv_bootstrap=0).clv)
    a = clv.bootstrap(customers, cfg.clv, res.fitter, res.ggf, 8, seed=5, n_jobs=1)
    b = clv.bootstrap(customers, cfg.clv, res.fitter, res.ggf, 8, seed=5, n_jobs=2)
    assert a == b and a["failed"] == 0
    lo, hi = a["params"]["r"]
    assert lo <= res.fitter.params_["r"] <= hi or math.isclose(lo, hi)
    lo, hi = a["total_predicted_clv"]
    assert lo < hi


def test_parameter_table_pairs_estimates_with_intervals():
    metrics = {"params": {"r": 0.25, "alpha": 4.0}, "gamma_gamma": {"p": 6.0, "customers": 9},
               "intervals": {"params": {"r": [0.2, 0.3], "p": [5.0, 7.0]}}}
    table = parameter_table(metrics, "week", "EUR")
    assert list(table.index) == ["r", "alpha", "p"]
    assert "per week" in table.loc["alpha", "meaning"] and "no unit" in table.loc["r", "meaning"]
    assert "EUR" in parameter_table({"gamma_gamma": {"v": 15.0}}, "week", "EUR").loc[
        "v", "meaning"]
    assert table.loc["r", "90% low"] == 0.2 and table.loc["p", "90% high"] == 7.0
    assert pd.isna(table.loc["alpha", "90% low"])
    assert parameter_table({"params": None, "gamma_gamma": None}).empty


def test_models_carrying_given_estimates_predict_as_lifetimes_does(sample):
    """A model built from estimates (the bootstrap's and fast_fit's) is a lifetimes fitter
    subclass, so lifetimes' predictions work on it unchanged."""
    _, _, customers, _ = sample
    f, r, T = customers["frequency"], customers["recency"], customers["T"]
    bgf = clv.fit_weighted("bgnbd", f, r, T)
    again = clv.BetaGeo.from_params(bgf.params_.to_numpy())
    assert isinstance(again, BetaGeoFitter)
    np.testing.assert_allclose(again.predict(10.0, f, r, T),
                               bgf.conditional_expected_number_of_purchases_up_to_time(10.0, f, r, T))
    gg = clv.GammaGamma.from_params([6.25, 3.74, 15.44])
    assert isinstance(gg, GammaGammaFitter)
    assert gg.conditional_expected_average_profit(pd.Series([2.0]), pd.Series([30.0])).iloc[0] > 0


def test_a_large_pareto_fit_starts_from_a_sample_and_ends_at_the_same_optimum(sample,
                                                                              monkeypatch):
    """Above ``warm_start_above`` distinct triples, Pareto/NBD starts where a fit on a seeded
    sample ends: the whole fit lands where the cold fit does (its likelihood to 1e-9; the
    parameters to the flat (s, beta) ridge's 5e-3) and is reproducible."""
    _, _, _, ch = sample
    u, _ = clv.unique_triples(ch["frequency_cal"], ch["recency_cal"], ch["T_cal"])
    data = (u["frequency"], u["recency"], u["T"])
    pareto = clv.ParetoNBD
    cold = pareto.estimate(data, u["weight"])
    monkeypatch.setattr(pareto, "warm_start_above", 100)
    monkeypatch.setattr(pareto, "WARM_START_SAMPLE", 500)
    calls = []
    real = pareto.estimate.__func__
    monkeypatch.setattr(pareto, "estimate", classmethod(
        lambda cls, *a, **k: calls.append(len(a[0][0])) or real(cls, *a, **k)))
    warm = [pareto.estimate(data, u["weight"]) for _ in range(2)]
    assert calls[0] == len(u) and calls[1] < 500  # the whole fit, then the sample's inside
    ll = [m.loglik(*data, u["weight"]) for m in (cold, warm[0])]
    assert ll[1] == pytest.approx(ll[0], rel=1e-9)
    np.testing.assert_allclose(warm[0].params_, cold.params_, rtol=5e-3)
    np.testing.assert_array_equal(warm[0].params_, warm[1].params_)


def test_one_time_buyers_spike_and_the_spend_assumption_in_words():
    """Notebook 04's teaching: the one-time buyers' predicted values are nearly one number
    (what makes the spike), and the frequency-spend correlation read against Gamma-Gamma's
    assumption."""
    from analysis.narrative.describe import one_time_spike, spend_independence
    customers = pd.DataFrame({"frequency": [0, 0, 0, 0, 3]})
    value = pd.Series([3.0, 3.2, 3.4, np.nan, 40.0])
    spike = clv.one_time_buyers(customers, value)
    assert spike["customers"] == 3 and spike["share"] == 0.6 and spike["median"] == 3.2
    assert "3 customers (60%) bought on one day only" in one_time_spike(spike, "EUR")
    assert "median 3.20 EUR" in one_time_spike(spike, "EUR")
    assert clv.one_time_buyers(customers.assign(frequency=1), value) is None
    assert "used as is" in spend_independence(0.07)
    assert "above 0.3" in spend_independence(0.72) and spend_independence(None) == ""
