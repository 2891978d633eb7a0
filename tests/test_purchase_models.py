"""Every model in the registry, by the same tests (issue 29): equality with lifetimes where
lifetimes has the model, parameter recovery from the model's own simulator, the analytic
gradient against finite differences, the probability of no purchase against simulation,
and the registry against the parameter schema. A model added to ``models/registry.py``
is tested here without a line more."""
import numpy as np
import pytest
from lifetimes import BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
from scipy.optimize import approx_fprime

from analysis import clv, config, pipeline, schema
from analysis.clv import compare, diagnostics, models
from analysis.clv.models.bgnbd import LifetimesBacked
from analysis.clv.simulate import bgnbd_log
from conftest import ROOT, run_clv

PURCHASE = list(models.PURCHASE.values())
LIFETIMES = [m for m in PURCHASE if issubclass(m, LifetimesBacked)]
ids = lambda m: m.key


@pytest.fixture(scope="module")
def cdnow():
    """CDNOW's 2,357-customer sample, calibration period (Fader, Hardie & Lee 2005)."""
    cfg = config.typed(config.resolve(ROOT / "params" / "cdnow_sample.yaml"))
    _, _, agg = pipeline.transaction_stage(ROOT / "data" / "raw" / "CDNOW_sample.txt", cfg)
    ch = agg.clv.calibration
    return tuple(ch[c].to_numpy(dtype="float64") for c in ("frequency_cal", "recency_cal",
                                                           "T_cal"))


def _lifetimes_ll(model, theta, x, tx, T) -> float:
    """lifetimes' own log-likelihood of the data at ``theta`` (its internals)."""
    if model is models.ParetoNBD:
        return float(ParetoNBDFitter._conditional_log_likelihood(theta, x, tx, T).sum())
    ref = {models.BetaGeo: BetaGeoFitter, models.ModifiedBetaGeo: ModifiedBetaGeoFitter}[model]
    return -ref._negative_log_likelihood(np.log(theta), x, tx, T, np.ones_like(x), 0.0) * len(x)


def test_the_registry_is_what_the_schema_and_the_glossary_offer():
    field = schema.FIELD_BY_NAME["clv_model"]
    assert field.choices[0] == "auto" and set(field.choices[1:]) == set(models.PURCHASE)
    assert models.COMPARED == ("bgnbd", "mbgnbd", "paretonbd") and models.DEFAULT in \
        models.COMPARED
    assert len({m.name for m in PURCHASE}) == len(PURCHASE)
    for key, m in {**models.PURCHASE, **models.SPEND}.items():
        assert m.key == key and models.get(key) is m and models.get(m) is m
        assert len(m.example) == len(m.param_names)
        assert set(m.bounds) <= set(m.param_names)
    for m in PURCHASE:
        assert models.by_name(m.name) is m and set(m.rate_params) <= set(m.param_names)
    # the glossary says "P(alive) = 1 for one-time buyers" exactly where the model means it
    from analysis.narrative.glossary import dictionary
    for m in PURCHASE:
        text = dictionary(["p_alive"], "en", "USD", "week", model=m.name)["description"][0]
        assert ("one-time buyer has 1" in text) == m.one_time_buyers_alive, m.key


@pytest.mark.parametrize("model", LIFETIMES, ids=ids)
def test_log_likelihood_equals_lifetimes(cdnow, model):
    theta = np.asarray(model.example) * 1.15  # away from any optimum
    ours = model.from_params(theta).loglik(*cdnow)
    assert ours == pytest.approx(_lifetimes_ll(model, theta, *cdnow), rel=1e-10)


@pytest.mark.parametrize("model", LIFETIMES, ids=ids)
def test_the_fit_lands_where_lifetimes_fit_does(cdnow, model):
    """Weighted unique triples, our optimiser: lifetimes' optimum (its log-likelihood to
    1e-7; Pareto/NBD's is so flat in (s, beta) that lifetimes' own optimiser stops apart run
    to run, so its parameters are compared to 5e-3)."""
    ours = clv.fit_weighted(model.key, *cdnow)
    ref = model.lifetimes_fit(*cdnow)
    assert ours.loglik(*cdnow) == pytest.approx(ref.loglik(*cdnow), rel=1e-7)
    rtol = {"bgnbd": 1e-5, "paretonbd": 5e-3}.get(model.key, 1e-3)
    np.testing.assert_allclose(ours.theta(), ref.theta(), rtol=rtol)
    # started at lifetimes' estimates, lifetimes' fit stays (``start`` in the data's unit)
    again = model.lifetimes_fit(*cdnow, start=ref.theta())
    assert again.loglik(*cdnow) >= ref.loglik(*cdnow) - 1e-6 * abs(ref.loglik(*cdnow))
    assert type(again) is model


@pytest.mark.parametrize("model", LIFETIMES, ids=ids)
def test_p_alive_and_expectations_equal_lifetimes(cdnow, model):
    fitted = model.from_params(model.example)
    x, tx, T = cdnow
    ref = next(k for k in model.__mro__ if k.__module__.startswith("lifetimes"))()
    ref.params_ = fitted.params_
    np.testing.assert_allclose(fitted.p_alive(x, tx, T), ref.conditional_probability_alive(
        x, tx, T), rtol=1e-9)
    for t in (1.0, 13.0, 52.0):
        np.testing.assert_allclose(
            clv.expected_purchases_fn(fitted, x, tx, T, fitted.precompute(x, tx, T))(t),
            ref.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T), rtol=1e-8)
    np.testing.assert_allclose(fitted.unconditional_expected(np.array([4.0, 30.0])),
                               ref.expected_number_of_purchases_up_to_time(
                                   np.array([4.0, 30.0])), rtol=1e-10)


@pytest.mark.parametrize("model", PURCHASE, ids=ids)
def test_a_fit_recovers_the_parameters_it_was_simulated_with(model):
    """6,000 customers drawn from the model at its example estimates, observed 30-78 weeks:
    every estimate within 3.5 standard errors (in logs) of the truth, and the fit sound."""
    T = np.random.default_rng(1).uniform(30, 78, 6000).round(2)
    drawn = model.simulate(np.asarray(model.example), T, seed=2)
    assert (drawn["recency"] <= drawn["T"]).all() and (drawn["frequency"] >= 0).all()
    assert ((drawn["frequency"] == 0) == (drawn["recency"] == 0)).all()
    data = (drawn["frequency"], drawn["recency"], drawn["T"])
    fit = clv.fit_weighted(model.key, *data)
    est = fit.as_dict()
    cov = diagnostics.purchase_covariance(model, est, *data)
    se = diagnostics.errors_of(cov, list(est))
    for (name, value), truth in zip(est.items(), model.example):
        assert abs(np.log(value / truth)) < 3.5 * se[name], (name, value, truth, se[name])
    assert diagnostics.fit_reasons(est, se, model.bounds) == []


@pytest.mark.parametrize("model", PURCHASE, ids=ids)
def test_the_objective_is_the_likelihood_and_its_gradient_the_slope(cdnow, model):
    """What a fit minimises is the negative mean log-likelihood plus the penalizer, and,
    where the model has an analytic gradient, that gradient is the objective's slope."""
    x, tx, T = (v / [1, 7, 7][i] for i, v in enumerate(cdnow))
    x0 = np.log(np.asarray(model.example) * [1.2 if i % 2 else 0.8
                                             for i in range(len(model.example))])
    for penalizer in (0.0, 0.01):
        fn = model.objective(x, tx, T, np.ones_like(x), penalizer)
        value = (lambda z: fn(z)[0]) if model.analytic_gradient else fn
        theta = np.exp(x0)
        assert value(x0) == pytest.approx(-model.per_customer(theta, x, tx, T).mean()
                                          + penalizer * (theta ** 2).sum(), rel=1e-12)
        if model.analytic_gradient:
            np.testing.assert_allclose(fn(x0)[1], approx_fprime(x0, value, 1e-7),
                                       rtol=1e-4, atol=1e-7)


def test_the_spend_models_gradient_fit_and_simulator():
    gg = models.GammaGamma
    x = np.random.default_rng(4).integers(1, 12, 3000)
    m = gg.simulate(np.asarray(gg.example), x, seed=5)
    fn = gg.objective(x.astype(float), m, np.ones(len(x)), 0.0)
    x0 = np.log([5.0, 3.0, 12.0])
    np.testing.assert_allclose(fn(x0)[1], approx_fprime(x0, lambda z: fn(z)[0], 1e-7),
                               rtol=1e-4, atol=1e-7)
    fit = gg.estimate((x, m))
    ref = gg.lifetimes_fit(x, m)
    np.testing.assert_allclose(fit.theta(), ref.theta(), rtol=2e-4)
    # the mean spend p·v / (q − 1) is what the data pin down: recovered to a few percent
    mean = lambda p, q, v: p * v / (q - 1)
    assert mean(*fit.theta()) == pytest.approx(mean(*gg.example), rel=0.05)


@pytest.mark.parametrize("model", PURCHASE, ids=ids)
def test_no_purchase_in_an_interval_matches_the_simulator(model):
    """A new customer's chance of no repeat purchase within t is the share of simulated
    customers with none within t; for everyone, 1 − P(no purchase) ≤ E[purchases]
    (a count's mean bounds its chance of being at least 1)."""
    theta = np.asarray(model.example)
    fitted = model.from_params(theta)
    for t in (4.0, 26.0):
        drawn = model.simulate(theta, np.full(40_000, t), seed=8)
        share = float((drawn["frequency"] == 0).mean())
        assert fitted.p_no_purchase(t, [0.0], [0.0], [0.0])[0] == pytest.approx(share,
                                                                                abs=0.008)
    rng = np.random.default_rng(9)
    x = rng.integers(0, 20, 500).astype(float)
    T = rng.uniform(10, 80, 500)
    tx = np.where(x > 0, rng.uniform(0, 1, 500) * T, 0.0)
    p0 = fitted.p_no_purchase(13.0, x, tx, T)
    assert ((p0 >= 0) & (p0 <= 1)).all()
    assert (1 - p0 <= fitted.expected_repeat(13.0, x, tx, T) + 1e-9).all()


def test_pareto_no_purchase_equals_lifetimes():
    fitted = models.ParetoNBD.from_params(models.ParetoNBD.example)
    ref = ParetoNBDFitter()
    ref.params_ = fitted.params_
    x, tx, T = np.array([0.0, 1, 4, 12]), np.array([0.0, 10, 30, 60]), np.array([40.0, 50, 60, 70])
    want = [ref.conditional_probability_of_n_purchases_up_to_time(0, 13.0, *c)
            for c in zip(x, tx, T)]
    np.testing.assert_allclose(fitted.p_no_purchase(13.0, x, tx, T), want, rtol=1e-10)


def test_nbd_is_the_limit_of_bgnbd_without_drop_out(cdnow):
    x, tx, T = cdnow
    r, alpha = models.NBD.example
    nbd = models.NBD.per_customer((r, alpha), x, tx, T)
    near = models.BetaGeo.per_customer((r, alpha, 1e-40, 1.0), x, tx, T)
    np.testing.assert_allclose(near, nbd, atol=1e-6)
    assert (models.NBD.from_params((r, alpha)).p_alive(x, tx, T) == 1).all()


def test_a_run_can_use_a_model_outside_the_comparison():
    """``clv_model: nbd`` through the registry alone, on a log in which nobody drops out:
    the stage fits it beside the compared three, uses it, and the comparison lists it."""
    tx = bgnbd_log(1500, 0.25, 28.0, 1e-4, 2.4, 730, seed=12)
    res, customers, _ = run_clv(tx, clv_model="nbd")
    assert res.status == "ok", res.status
    assert res.stats["model"] == "NBD" and res.stats["model_choice"] == "set"
    assert [e["model"] for e in res.stats["comparison"]] == ["BG/NBD", "MBG/NBD",
                                                             "Pareto/NBD", "NBD"]
    assert set(res.stats["params"]) == {"r", "alpha"}
    assert res.stats["params"]["r"] == pytest.approx(0.25, rel=0.2)
    assert (res.table["p_alive"] == 1).all() and res.table["expected_purchases"].gt(0).all()
    assert res.table["predicted_clv"].notna().all()


def test_without_a_holdout_the_comparison_counts_parameters(monkeypatch):
    """By AIC: a two-parameter model that fits almost as well as a four-parameter one
    is preferred; one that fits much worse is not."""
    fit = lambda m, ll: compare.Fit(m, fitter=object(), log_likelihood=ll)
    monkeypatch.setattr(compare, "MODELS", ("bgnbd", "nbd"))
    assert compare.rank("auto", {"bgnbd": fit("bgnbd", -100.0), "nbd": fit("nbd", -101.5)},
                        {}) == (["nbd", "bgnbd"], "likelihood")
    assert compare.rank("auto", {"bgnbd": fit("bgnbd", -100.0), "nbd": fit("nbd", -102.5)},
                        {}) == (["bgnbd", "nbd"], "likelihood")
