"""Issue 15: which purchase model, how sure, and on how much data.

Model comparison and ``clv_model: auto``; degenerate and weak fits named on logs drawn
from BG/NBD with known parameters; data-sufficiency checks; CLV over several horizons;
Pareto/NBD's P(alive) where lifetimes' formula overflows."""
import numpy as np
import pandas as pd
import pytest
from lifetimes import ParetoNBDFitter

from analysis import clv, config, pipeline
from analysis.narrative.describe import describe
from conftest import ROOT
from analysis.clv import compare, diagnostics, sufficiency
from analysis.clv.simulate import bgnbd_log
from analysis.narrative.stages import fit_check_sentence
from analysis.stage1 import aggregates, summary
from analysis.units import TimeUnit, Window, money

TRUE = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.4}  # alpha per week


def _run(tx, **over):
    tx = tx.assign(is_return=False)
    cfg = config.typed({"columns": {"customer_id": "c", "date": "d", "amount": "a"},
                        "time_unit": "week", "clv_bootstrap": 30, **over})
    customers = summary.customer_summary(tx, cfg.summary)
    window = Window(tx["date"].min().normalize(), tx["date"].max().normalize(),
                    cfg.clv.time_unit)
    inputs = aggregates.clv_inputs(tx, cfg.clv, window, customers["customer_id"])
    return clv.run(inputs, customers, window, cfg.clv), customers, cfg


@pytest.fixture(scope="module")
def known():
    """5,000 customers drawn from BG/NBD with the parameters above, over two years."""
    tx = bgnbd_log(5000, TRUE["r"], TRUE["alpha"] * 7, TRUE["a"], TRUE["b"], 730, seed=11)
    return _run(tx, clv_model="bgnbd")


@pytest.fixture(scope="module")
def no_churn():
    """The same, but almost nobody ever drops out (a -> 0)."""
    tx = bgnbd_log(2000, TRUE["r"], TRUE["alpha"] * 7, 1e-4, TRUE["b"], 730, seed=12)
    return _run(tx, clv_model="bgnbd")


def test_a_fit_to_data_drawn_from_bgnbd_is_sound_and_recovers_the_parameters(known):
    res, customers, _ = known
    assert res.status == "ok", res.status
    assert res.stats["fit_checks"] == []
    for name, value in TRUE.items():
        assert res.stats["params"][name] == pytest.approx(value, rel=0.3), name
    assert all(se < diagnostics.SE_LOG_LIMIT for se in res.stats["standard_errors_log"].values())
    assert res.table["predicted_clv"].notna().all()


def test_a_fit_to_data_without_drop_out_is_flagged_and_not_reported(no_churn):
    res, customers, cfg = no_churn
    assert res.status.startswith("unreliable: the BG/NBD fit is degenerate or weak")
    checks = {c["check"] for c in res.stats["fit_checks"]}
    assert "bound" in checks  # a ran to 0
    assert "a = " in res.status
    # no precise prediction goes to the CRM table or the totals
    for col in ("p_alive", "expected_purchases", "predicted_clv", "predicted_clv_24m"):
        assert res.table[col].isna().all(), col
    assert (res.table["clv_tier"] == "not estimated").all()
    assert res.stats["predicted_clv_total"] is None and res.stats["horizon_totals"] is None
    assert res.table["historical_clv"].notna().all()
    # the analyst still sees what was fitted and why it is not used
    assert res.stats["params"]["a"] < diagnostics.SHAPE_BOUNDS[0]
    words = describe(res, "en", "USD")
    assert "is not reported as a prediction" in words and "edge of its range" in words
    assert "不作为预测发布" in describe(res, "zh", "USD")


def test_the_page_gives_no_precise_clv_for_a_flagged_fit_but_says_what_holds(no_churn):
    res, customers, cfg = no_churn
    metrics = {**res.metrics()["clv"]}
    for lang in ("en", "zh"):
        from analysis.report.sections import _clv_section
        text = _clv_section(customers.join(res.table), metrics, lang, "USD").text
        hist = money(metrics["historical_clv_total"], "USD", lang)  # 298,229 / 29.8 万
        assert hist in text
        amounts = __import__("re").findall(r"\d[\d,.]* (?:万 |亿 )?USD", text)
        assert amounts == [hist], text  # no other amount
        assert ("could not be pinned down" in text) if lang == "en" else ("无法可靠" in text)


def test_standard_errors_flag_a_flat_ridge():
    """On the ridge a -> 0, b -> infinity the likelihood does not curve: flagged as flat or
    at a bound; at CDNOW-like estimates both checks pass."""
    x = np.array([0.0, 1, 2, 5, 0, 3]); tx = np.array([0.0, 10, 20, 30, 0, 25])
    T = np.array([40.0, 40, 40, 40, 30, 35]); w = np.array([50.0, 20, 10, 5, 30, 8])
    ridge = {"r": 0.3, "alpha": 5.0, "a": 1e-6, "b": 5e4}
    reasons = diagnostics.fit_reasons(ridge, diagnostics.standard_errors(
        "bgnbd", ridge, x, tx, T, w))
    assert {"bound"} <= {r["check"] for r in reasons}
    assert diagnostics.fit_reasons({"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4},
                                   {"r": 0.05, "alpha": 0.06, "a": 0.2, "b": 0.3}) == []
    assert diagnostics.fit_reasons({"r": 0.24}, None)[0]["check"] == "flat"
    loose = diagnostics.fit_reasons({"r": 0.24, "b": 3.0}, {"r": 0.1, "b": 4.0})
    assert loose == [{"check": "loose", "params": "b (×54.6)"}]
    assert "very uncertain" in fit_check_sentence(loose[0])


def test_bootstrap_failures_and_scatter_are_named():
    ok = {"iterations": 100, "failed": 2, "params": {"a": [0.6, 0.9], "q": [1.0, 900.0]}}
    assert diagnostics.bootstrap_reasons(ok) == []  # spend's q may scatter with its ratio
    bad = {"iterations": 100, "failed": 11, "params": {"a": [1e-7, 0.9], "b": [1.0, 2.0]}}
    reasons = diagnostics.bootstrap_reasons(bad)
    assert [r["check"] for r in reasons] == ["failed", "scatter"]
    assert fit_check_sentence(reasons[0]) == "11 of 100 bootstrap refits failed"
    assert "a vary by more than a factor of 25" in fit_check_sentence(reasons[1])


def test_auto_uses_the_model_with_the_smallest_backtest_error_among_sound_fits(known):
    """The choice is the sound model with the smallest root mean squared error per customer
    in revenue, averaged over the backtest origins (recomputed here from the scorecard)."""
    tx = bgnbd_log(3000, TRUE["r"], TRUE["alpha"] * 7, TRUE["a"], TRUE["b"], 730, seed=21)
    res, customers, cfg = _run(tx)  # clv_model defaults to auto
    assert cfg.clv.clv_model == "auto"
    table = res.stats["comparison"]
    assert [e["model"] for e in table] == ["BG/NBD", "MBG/NBD", "Pareto/NBD"]
    origins = res.stats["backtests"]["origins"]
    assert len(origins) >= 2
    sound = [e["model"] for e in table if e["fit_status"] == "sound"]
    error = {m: np.mean([o["models"][m]["revenue_rmse"] for o in origins]) for m in sound}
    best = min(error, key=error.get)
    assert [e["model"] for e in table if e["chosen"]] == [best] == [res.stats["model"]]
    assert res.stats["model_choice"] == "holdout"
    chosen = next(e for e in table if e["chosen"])
    assert res.stats["holdout"]["mae"] == pytest.approx(chosen["holdout_mae"])
    assert chosen["backtest_mae"] == pytest.approx(np.mean([o["models"][best]["mae"]
                                                            for o in origins]))
    shown = res.comparison()
    assert len(shown) == 3 and shown.index.str.endswith("(used)").sum() == 1
    cond = res.holdout.conditional
    assert {"BG/NBD", "MBG/NBD", "Pareto/NBD", "actual", "naive"} <= set(cond.columns)
    # a model named in the parameters is used as it is, and still compared
    named, _, _ = _run(tx, clv_model="paretonbd", clv_bootstrap=0)
    assert named.stats["model"] == "Pareto/NBD" and named.stats["model_choice"] == "set"
    assert len(named.stats["comparison"]) == 3


def test_rank_puts_sound_fits_first_by_holdout_error_else_by_likelihood():
    fit = lambda m, ll, reasons=(): compare.Fit(m, fitter=object(), log_likelihood=ll,
                                                 reasons=list(reasons))
    score = lambda m, mae: clv.validation.Score(m, "ok", {"mae": mae})
    fits = {"bgnbd": fit("bgnbd", -10, [{"check": "flat"}]), "mbgnbd": fit("mbgnbd", -12),
            "paretonbd": fit("paretonbd", -11)}
    scores = {"bgnbd": score("bgnbd", 0.1), "mbgnbd": score("mbgnbd", 0.3),
              "paretonbd": score("paretonbd", 0.2)}
    assert compare.rank("auto", fits, scores) == (["paretonbd", "mbgnbd", "bgnbd"], "holdout")
    assert compare.rank("auto", fits, {}) == (["paretonbd", "mbgnbd", "bgnbd"], "likelihood")
    assert compare.rank("mbgnbd", fits, scores) == (["mbgnbd"], "set")
    for m in fits:
        fits[m].reasons = [{"check": "flat"}]
    assert compare.rank("auto", fits, scores) == (["bgnbd", "paretonbd", "mbgnbd"],
                                                  "holdout unsound")


def test_a_model_whose_bootstrap_scatters_gives_way_to_the_next_sound_one(monkeypatch):
    """auto: the best model by holdout error is used only if its bootstrap is sound too."""
    tx = bgnbd_log(1500, TRUE["r"], TRUE["alpha"] * 7, TRUE["a"], TRUE["b"], 730, seed=5)
    first, _, _ = _run(tx, clv_bootstrap=4)
    best = first.stats["model"]
    real = clv.stage.interval_estimates

    def scattered(customers, params, fitter, *args, **kwargs):
        out = real(customers, params, fitter, *args, **kwargs)
        if type(fitter).name == best:
            out["params"]["r"] = [0.01, 5.0]
        return out
    monkeypatch.setattr(clv.stage, "interval_estimates", scattered)
    res, _, _ = _run(tx, clv_bootstrap=4)
    assert res.status == "ok" and res.stats["model"] != best
    entry = {e["model"]: e for e in res.stats["comparison"]}
    assert "scatter widely" in entry[best]["fit_status"]
    assert entry[res.stats["model"]]["chosen"]


def test_p_alive_of_one_time_buyers_follows_the_model(known):
    """BG/NBD gives every one-time buyer P(alive) = 1 and the run says what that means;
    MBG/NBD and Pareto/NBD let one-time buyers lapse."""
    res, customers, _ = known
    once = (customers["frequency"] == 0).to_numpy()
    assert (res.table.loc[once, "p_alive"] == 1).all()
    assert res.stats["p_alive_note"] == "one_time_buyers_alive"
    assert "P(alive) = 1" in describe(res, "en", "USD")
    from analysis.narrative.glossary import dictionary
    doc = dictionary(["p_alive"], "en", "USD", "week", model="BG/NBD")["description"][0]
    assert "one-time buyer has 1" in doc
    assert "one-time" not in dictionary(["p_alive"], "en", "USD", "week",
                                        model="Pareto/NBD")["description"][0]
    tx = bgnbd_log(1500, TRUE["r"], TRUE["alpha"] * 7, TRUE["a"], TRUE["b"], 730, seed=5)
    for model in ("mbgnbd", "paretonbd"):
        other, c, _ = _run(tx, clv_model=model, clv_bootstrap=0)
        lapsed = other.table.loc[(c["frequency"] == 0).to_numpy(), "p_alive"]
        assert lapsed.max() < 1 and lapsed.min() < 0.9, model
        assert other.stats["p_alive_note"] is None


def test_pareto_nbd_p_alive_and_expectation_equal_lifetimes_and_stay_finite():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 30, 400).astype(float)
    T = rng.uniform(30, 80, 400)
    tx = np.where(x > 0, rng.uniform(0, 1, 400) * T, 0.0)
    fitter = clv.ParetoNBD.from_params([0.6, 13.6, 0.31, 6.1])
    ref = ParetoNBDFitter()
    ref.params_ = fitter.params_
    np.testing.assert_allclose(fitter.conditional_probability_alive(x, tx, T),
                               ref.conditional_probability_alive(x, tx, T), rtol=1e-9)
    np.testing.assert_allclose(
        fitter.conditional_expected_number_of_purchases_up_to_time(26, x, tx, T),
        ref.conditional_expected_number_of_purchases_up_to_time(26, x, tx, T), rtol=1e-8)
    # CDNOW's customer 14048: 170 repeat purchases in 70.9 weeks, the last on the final day
    with np.errstate(all="ignore"):
        assert np.isnan(ref.conditional_probability_alive(170, 70.857, 70.857))
    assert fitter.conditional_probability_alive(170, 70.857, 70.857) == pytest.approx(1.0)
    assert np.isfinite(fitter.conditional_expected_number_of_purchases_up_to_time(
        52, 170, 70.857, 70.857))


def test_a_pareto_nbd_fit_is_reproducible():
    tx = bgnbd_log(800, TRUE["r"], TRUE["alpha"] * 7, TRUE["a"], TRUE["b"], 730, seed=8)
    c = summary.customer_summary(tx.assign(is_return=False), config.typed(
        {"columns": {"customer_id": "c", "date": "d", "amount": "a"}}).summary)
    fits = [clv.fit_weighted("paretonbd", c["frequency"], c["recency"], c["T"])
            for _ in range(2)]
    assert fits[0].params_.tolist() == fits[1].params_.tolist()


def test_clv_over_several_horizons_adds_up_and_grows(known):
    res, customers, cfg = known
    cols = res.table
    assert [c for c in cols if c.startswith("predicted_clv_")] == \
        ["predicted_clv_3m", "predicted_clv_6m", "predicted_clv_24m"]
    assert (cols["predicted_clv_3m"] <= cols["predicted_clv_6m"]).all()
    assert (cols["predicted_clv_6m"] <= cols["predicted_clv"]).all()
    assert (cols["predicted_clv"] <= cols["predicted_clv_24m"]).all()
    totals = res.stats["horizon_totals"]
    assert totals["12"] == res.stats["predicted_clv_total"]
    assert totals["24"] == pytest.approx(cols["predicted_clv_24m"].sum())
    table = res.horizon_table("USD")
    assert table.index.tolist() == [3, 6, 12, 24]
    words = describe(res, "en", "USD")
    assert "By horizon: 3 months" in words and f"{totals['24']:,.0f} USD" in words


def test_each_horizon_equals_lifetimes_customer_lifetime_value(known):
    res, customers, cfg = known
    for months in (3, 24):
        ref = res.ggf.customer_lifetime_value(
            res.fitter, customers["frequency"], customers["recency"], customers["T"],
            customers["monetary_value"], time=months,
            discount_rate=clv.monthly_rate(cfg.clv.discount_rate), freq="W")
        np.testing.assert_allclose(res.table[f"predicted_clv_{months}m"], ref.to_numpy(),
                                   rtol=1e-8)


def test_horizons_are_checked_and_follow_the_contract_columns():
    base = {"columns": {"customer_id": "c", "date": "d", "amount": "a"}}
    assert config.typed({**base, "clv_horizons_months": [24, 3, 3]}).clv \
        .clv_horizons_months == (3, 24)
    with pytest.raises(config.ParamError, match="clv_horizons_months"):
        config.typed({**base, "clv_horizons_months": [0.5]})
    from analysis.runfolder import order_columns
    frame = pd.DataFrame(columns=["customer_id", "predicted_clv_24m", "predicted_clv",
                                  "clv_tier", "predicted_clv_3m"])
    assert list(order_columns(frame)) == ["customer_id", "predicted_clv", "clv_tier",
                                          "predicted_clv_3m", "predicted_clv_24m"]


def test_thin_data_is_named_before_modelling():
    """CDNOW's first 13 days: the window holds too few typical gaps between purchases, and
    95 % of the customers bought once; each is a warning and a sentence on the page."""
    cfg = config.typed(config.resolve(ROOT / "params" / "cdnow.yaml",
                                      {"observation_end": "1997-01-13", "calibration_end": None,
                                       "clv_bootstrap": 0}))
    _, customers, agg = pipeline.transaction_stage(ROOT / "data" / "raw" / "CDNOW_master.txt",
                                                   cfg)
    window = agg.window
    res = clv.run(agg.clv, customers, window, cfg.clv)
    found = {c["check"]: c for c in res.stats["sufficiency"]}
    assert set(found) == {"window", "one_time"}
    assert found["window"]["window_days"] == 13 and found["window"]["gaps"] < 4
    assert found["one_time"]["share"] > 0.9
    assert any(w.startswith("the window (13 days) holds only") for w in res.stats["warnings"])
    words = describe(res, "en", "USD")
    assert "Data checks:" in words and "bought only once" in words
    assert "数据检查" in describe(res, "zh", "USD")
    from analysis.report.sections import _clv_section
    text = _clv_section(customers.join(res.table), res.metrics()["clv"], "en", "USD").text
    assert "Read these figures with care" in text and "typical gaps" in text
    small = sufficiency.checks(customers.head(150), window, 5)
    assert {"customers", "repeat_buyers"} <= {c["check"] for c in small}


def test_sufficiency_passes_on_enough_data(known):
    res, customers, _ = known
    assert res.stats["sufficiency"] == []
    window = Window(pd.Timestamp("2020-01-01"), pd.Timestamp("2021-12-30"), TimeUnit("week"))
    assert sufficiency.checks(customers, window, 290) == []
    found = sufficiency.checks(customers.head(150), window, 290)
    assert [c["check"] for c in found] == ["customers", "repeat_buyers"]


def test_normal_approximation_agrees_with_the_bootstrap(known, monkeypatch):
    """Above NORMAL_ABOVE customers the intervals come from the normal approximation of the
    estimates (no refits); on 5,000 BG/NBD customers it gives what the bootstrap gives:
    parameter intervals of the same width, the same total predicted CLV interval."""
    import importlib
    intervals = importlib.import_module("analysis.clv.bootstrap")  # (the module, not the
    res, customers, cfg = known                                    # function clv exports)
    boot = intervals.bootstrap(customers, cfg.clv, res.fitter, res.ggf, 60, seed=3)
    normal = intervals.normal_intervals(customers, cfg.clv, res.fitter, res.ggf, 200, seed=3)
    assert boot["method"] == "bootstrap" and normal["method"] == "normal"
    assert normal["failed"] == 0 and set(normal["params"]) == set(boot["params"])
    for k, (lo, hi) in boot["params"].items():
        nlo, nhi = normal["params"][k]
        assert 0.6 < (nhi - nlo) / (hi - lo) < 1.6, (k, boot["params"][k], normal["params"][k])
        assert abs((nlo + nhi) - (lo + hi)) / (hi - lo) < 0.6, k  # centres within ~0.3 width
    (lo, hi), (nlo, nhi) = boot["total_predicted_clv"], normal["total_predicted_clv"]
    assert 0.6 < (nhi - nlo) / (hi - lo) < 1.6 and abs((nlo + nhi) - (lo + hi)) < (hi - lo)
    assert intervals.normal_intervals(customers, cfg.clv, res.fitter, res.ggf, 50, seed=3) == \
        intervals.normal_intervals(customers, cfg.clv, res.fitter, res.ggf, 50, seed=3)
    # the run picks the method by its number of customers
    assert intervals.intervals(customers, cfg.clv, res.fitter, res.ggf, 5, 1)["method"] == \
        "bootstrap"
    monkeypatch.setattr(intervals, "NORMAL_ABOVE", len(customers) - 1)
    assert intervals.intervals(customers, cfg.clv, res.fitter, res.ggf, 5, 1)["method"] == \
        "normal"


def test_pareto_likelihood_on_distinct_pairs_is_the_same():
    """Pareto/NBD's hypergeometric terms evaluated once per distinct (x, tₓ) and (x, T)
    give every customer the same log-likelihood, whichever of alpha and beta is larger."""
    from analysis.clv.models.paretonbd import pareto_pairs, paretonbd_ll
    rng = np.random.default_rng(4)
    x = rng.integers(0, 12, 5000).astype(float)
    T = rng.choice(np.arange(20.0, 80.0), 5000)
    tx = np.where(x > 0, np.round(rng.uniform(0, 1, 5000) * T), 0.0)
    pairs = pareto_pairs(x, tx, T)
    assert len(pairs[0][0]) < 1000 and len(pairs[1][0]) < 1000
    for params in [(0.55, 10.6, 0.72, 31.8), (0.55, 31.8, 0.72, 10.6)]:
        assert np.array_equal(paretonbd_ll(*params, x, tx, T, pairs=pairs),
                              paretonbd_ll(*params, x, tx, T))


def test_above_fit_sample_the_models_are_fitted_on_a_seeded_sample(monkeypatch):
    """Above FIT_SAMPLE customers the models are fitted on a seeded random sample drawn
    without replacement: every customer still gets predictions and the holdout check scores
    every customer, the estimates agree with the fit on everyone within their (the
    sample's) standard errors, the interval of the total is scaled to every customer and
    contains the total, and the paragraph says all of it in both languages."""
    import importlib
    from analysis.clv.models import fitting as models
    intervals = importlib.import_module("analysis.clv.bootstrap")
    assert models.fit_rows(10, 0, 20) is None
    rows = models.fit_rows(8000, 42, 3000)
    assert len(rows) == 3000 and (np.diff(rows) > 0).all() and rows.max() < 8000
    assert np.array_equal(rows, models.fit_rows(8000, 42, 3000))
    assert not np.array_equal(rows, models.fit_rows(8000, 43, 3000))

    tx = bgnbd_log(8000, TRUE["r"], TRUE["alpha"] * 7, TRUE["a"], TRUE["b"], 730, seed=5)
    full, customers, cfg = _run(tx, clv_model="bgnbd")
    monkeypatch.setattr(models, "FIT_SAMPLE", 3000)
    monkeypatch.setattr(intervals, "NORMAL_ABOVE", 1000)
    res, _, _ = _run(tx, clv_model="bgnbd")
    s, f = res.stats, full.stats
    assert f["fit_sample"] is None
    assert s["fit_sample"] == {"customers": 3000, "of": len(customers), "seed": cfg.clv.seed}
    assert res.metrics()["clv"]["fit_sample"] == s["fit_sample"]  # the report reads it there
    assert res.status == full.status == "ok"
    assert res.table["predicted_clv"].notna().sum() == len(customers)
    assert s["holdout"]["customers"] == f["holdout"]["customers"] > 3000
    for k, v in s["params"].items():
        assert abs(np.log(v) - np.log(f["params"][k])) < 3 * s["standard_errors_log"][k], k
    ci = s["intervals"]
    assert ci["method"] == "normal" and ci["scaled_from_sample"]
    lo, hi = ci["total_predicted_clv"]
    assert lo < s["predicted_clv_total"] < hi
    assert abs(s["predicted_clv_total"] / f["predicted_clv_total"] - 1) < 0.1
    en, zh = describe(res, "en", "GBP"), describe(res, "zh", "GBP")
    assert f"fitted on a seeded random sample of 3,000 of the {len(customers):,} customers " \
           f"(seed {cfg.clv.seed})" in en and "scaled to all of them" in en
    assert "3,000" in zh and f"{len(customers):,}" in zh and "随机种子" in zh
    assert "sample" not in describe(full, "en", "GBP")


def test_a_sample_interval_is_scaled_by_the_totals_or_dropped():
    """The interval of a sample's total becomes everyone's by the ratio of the predicted
    totals; with nothing predicted in the sample there is no interval, not a wrong one."""
    from analysis.clv.stage import _scaled
    ci = {"method": "normal", "total_predicted_clv": [90.0, 110.0], "iterations": 100}
    predicted = pd.Series([10.0, 30.0, np.nan, 60.0])
    out = _scaled(ci, predicted, np.array([0, 1]))  # sample total 40, everyone's 100
    assert out["total_predicted_clv"] == [225.0, 275.0] and out["scaled_from_sample"]
    assert _scaled(ci, pd.Series([0.0, 0.0, 5.0]), np.array([0, 1]))["total_predicted_clv"] \
        is None
    assert _scaled(None, predicted, np.array([0])) is None
