"""90 % intervals of the model parameters and of the total predicted CLV.

Up to :data:`NORMAL_ABOVE` customers, a bootstrap: customers are resampled with
replacement (seeded); a resample is a multinomial re-weighting of the unique (frequency,
recency, T) triples, so each replicate is a weighted fit warm-started at the full-data
estimates. Each replicate has its own seed from ``SeedSequence(seed)``, so the result does
not depend on how many processes run them.

Above it, the normal approximation of the estimates: parameters drawn (seeded) from the
normal distribution of the log parameters whose covariance is the inverse Hessian of the
log-likelihood (purchase model and Gamma-Gamma), and the total predicted CLV computed for
each draw. With hundreds of thousands of customers the estimates' sampling distribution
is close to that normal, and a refit per replicate is what does not scale: Pareto/NBD and
MBG/NBD have no analytic gradient, and 100 Pareto/NBD refits on a million customers took
826 s of a 988 s run (``benchmarks/RESULTS.md``).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from ..config import ClvParams
from .diagnostics import log_covariance, purchase_covariance
from .models import NUMERICAL_FAILURES, gamma_gamma_sample
from .predict import (discounted_transactions, expected_spend, margin_ratio, monthly_rate,
                      triples_of)

__all__ = ["NORMAL_ABOVE", "intervals", "bootstrap", "normal_intervals"]

#: above this many customers, intervals come from the normal approximation
NORMAL_ABOVE = 200_000


def _total(bf, gf, arrays: dict, params: ClvParams) -> float:
    """Total predicted CLV of every customer under a purchase and a spend model."""
    f, r, T, x, m = (arrays[k] for k in ("f", "r", "T", "x", "m"))
    disc = discounted_transactions(bf, f, r, T, params.clv_horizon_months,
                                   monthly_rate(params.discount_rate), params.time_unit.freq,
                                   arrays.get("pairs"))
    return float((arrays["margin"] * expected_spend(gf, x, m) * disc[arrays["codes"]]).sum())


def _replicate(seed_seq, model: type, arrays: dict, est: dict, params: ClvParams):
    """One bootstrap replicate: resample customers, refit, total predicted CLV."""
    rng = np.random.default_rng(seed_seq)
    codes, f, r, T, x, m = (arrays[k] for k in ("codes", "f", "r", "T", "x", "m"))
    n = len(codes)
    counts = np.bincount(rng.integers(0, n, n), minlength=n)
    w = np.bincount(codes, weights=counts, minlength=len(f))
    keep = w > 0
    try:
        bf = model.estimate((f[keep], r[keep], T[keep]), w[keep], est["penalizer"],
                            start=est["model"])
        out = {k: float(bf.params_[k]) for k in model.param_names}
        total = None
        if est["spend"] is not None:
            sel = (x > 0) & (m > 0) & (counts > 0)
            spend = est["spend_model"]
            gf = spend.estimate((x[sel], m[sel]), counts[sel], est["spend_penalizer"],
                                start=est["spend"])
            out.update({k: float(gf.params_[k]) for k in spend.param_names})
            total = _total(bf, gf, arrays, params)
        return out, total
    except NUMERICAL_FAILURES:  # a failed refit, counted
        return None


def intervals(customers: pd.DataFrame, params: ClvParams, fitter, ggf, iterations: int,
              seed: int, triples: tuple[pd.DataFrame, np.ndarray] | None = None,
              covariance: np.ndarray | None = None) -> dict[str, Any] | None:
    """The 90 % intervals of the run: :func:`bootstrap` up to :data:`NORMAL_ABOVE`
    customers, :func:`normal_intervals` above (``method`` says which). ``covariance``: the
    purchase model's, when the fit's checks computed it already."""
    if len(customers) > NORMAL_ABOVE:
        return normal_intervals(customers, params, fitter, ggf, iterations, seed, triples,
                                covariance)
    return bootstrap(customers, params, fitter, ggf, iterations, seed, triples=triples)


def _arrays(customers: pd.DataFrame, params: ClvParams, triples) -> dict[str, np.ndarray]:
    u, codes = triples_of(customers, triples)
    return {"codes": codes, "f": u["frequency"].to_numpy(), "r": u["recency"].to_numpy(),
            "T": u["T"].to_numpy(),
            "x": customers["frequency"].to_numpy(dtype="float64"),
            "m": customers["monetary_value"].to_numpy(dtype="float64"),
            "margin": margin_ratio(customers, params)}


def _quantiles(values: list[float]) -> list[float] | None:
    return [float(np.quantile(values, 0.05)), float(np.quantile(values, 0.95))] \
        if values else None


def normal_intervals(customers: pd.DataFrame, params: ClvParams, fitter, ggf, draws: int,
                     seed: int, triples: tuple[pd.DataFrame, np.ndarray] | None = None,
                     covariance: np.ndarray | None = None) -> dict[str, Any] | None:
    """90 % intervals from the normal approximation of the log parameters (covariance: the
    inverse Hessian of each model's log-likelihood), ``draws`` seeded draws, each giving a
    total predicted CLV; None when a Hessian is not positive definite (the fit checks
    report that flat likelihood already). ``covariance``: the purchase model's (in its
    parameters' order), when computed already."""
    model = type(fitter)
    arrays = _arrays(customers, params, triples)
    # what the model shares across evaluations (Pareto/NBD's pairs), once for every draw
    arrays["pairs"] = model.precompute(arrays["f"], arrays["r"], arrays["T"])
    estimates = fitter.as_dict()
    names, theta = list(estimates), np.asarray(list(estimates.values()), dtype="float64")
    cov = covariance if covariance is not None else purchase_covariance(
        model, estimates, arrays["f"], arrays["r"], arrays["T"],
        np.bincount(arrays["codes"], minlength=len(arrays["f"])))
    rng = np.random.default_rng(seed)
    if cov is None:
        return None
    purchase = np.exp(rng.multivariate_normal(np.log(theta), cov, size=draws))
    spend = None
    if ggf is not None and getattr(ggf, "has_likelihood", True):  # the shrunk mean: fixed
        gg = gamma_gamma_sample(arrays["x"], arrays["m"])
        gx, gm, gw = (gg[c].to_numpy(dtype="float64")
                      for c in ("frequency", "monetary_value", "weight"))
        gtheta = ggf.theta()
        gcov = log_covariance(lambda v: -(gw * type(ggf).per_customer(np.exp(v), gx, gm)).sum(),
                              gtheta)
        if gcov is None:
            return None
        spend = np.exp(rng.multivariate_normal(np.log(gtheta), gcov, size=draws))
    def total_of(i: int) -> float:
        bf = model.from_params(purchase[i], fitter.penalizer_coef)
        gf = type(ggf).from_params(spend[i], ggf.penalizer_coef) if spend is not None \
            else ggf
        with np.errstate(all="ignore"):
            return _total(bf, gf, arrays, params)
    # the draws on both cores (numpy and scipy release the GIL), results in draw order
    with ThreadPoolExecutor(max_workers=2) as pool:
        every = list(pool.map(total_of, range(draws))) if ggf is not None else []
    totals = [t for t in every if np.isfinite(t)]
    failed = len(every) - len(totals)
    draws_by_name = dict(zip(names, purchase.T))
    if spend is not None:
        draws_by_name.update(zip(type(ggf).param_names, spend.T))
    return {"iterations": draws, "failed": failed, "level": 0.90, "method": "normal",
            "params": {k: _quantiles(list(v)) for k, v in draws_by_name.items()},
            "total_predicted_clv": _quantiles(totals)}


def bootstrap(customers: pd.DataFrame, params: ClvParams, fitter, ggf,
              iterations: int, seed: int, n_jobs: int | None = None,
              triples: tuple[pd.DataFrame, np.ndarray] | None = None) -> dict[str, Any]:
    """90 % intervals of the model parameters and the total predicted CLV from
    ``iterations`` refits on resampled customers.

    Each replicate has its own seed from ``SeedSequence(seed)``, so the result does not
    depend on how many processes run them (both cores by default)."""
    model = type(fitter)
    arrays = _arrays(customers, params, triples)
    # the refits use the penalizer of the fits they repeat (a fallback one included)
    est = {"model": fitter.params_.to_numpy(dtype="float64"),
           "penalizer": float(fitter.penalizer_coef),
           "spend": ggf.params_.to_numpy(dtype="float64") if ggf is not None else None,
           "spend_model": type(ggf) if ggf is not None else None,
           "spend_penalizer": float(ggf.penalizer_coef) if ggf is not None else 0.0}
    seeds = np.random.SeedSequence(seed).spawn(iterations)
    jobs = n_jobs if n_jobs is not None else (min(2, os.cpu_count() or 1)
                                              if iterations >= 20 else 1)
    results = Parallel(n_jobs=jobs)(delayed(_replicate)(s, model, arrays, est, params)
                                    for s in seeds)
    ok = [res for res in results if res is not None]
    names = [*model.param_names, *(type(ggf).param_names if ggf is not None else ())]
    totals = [t for _, t in ok if t is not None]
    return {"iterations": iterations, "failed": iterations - len(ok), "level": 0.90,
            "method": "bootstrap",
            "params": {k: _quantiles([p[k] for p, _ in ok]) for k in names},
            "total_predicted_clv": _quantiles(totals)}
