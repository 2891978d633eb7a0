"""Bootstrap intervals of the model parameters and of the total predicted CLV.

Customers are resampled with replacement (seeded); a resample is a multinomial
re-weighting of the unique (frequency, recency, T) triples, so each replicate is a
weighted fit warm-started at the full-data estimates. Each replicate has its own seed
from ``SeedSequence(seed)``, so the result does not depend on how many processes run them.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from ..config import ClvParams
from .models import PARAM_NAMES, fast_fit, model_key
from .predict import (discounted_transactions, expected_spend, margin_ratio, monthly_rate,
                      triples_of)

__all__ = ["bootstrap"]


def _replicate(seed_seq, model: str, arrays: dict, est: dict, params: ClvParams):
    """One bootstrap replicate: resample customers, refit, total predicted CLV."""
    rng = np.random.default_rng(seed_seq)
    codes, f, r, T, x, m = (arrays[k] for k in ("codes", "f", "r", "T", "x", "m"))
    n = len(codes)
    counts = np.bincount(rng.integers(0, n, n), minlength=n)
    w = np.bincount(codes, weights=counts, minlength=len(f))
    keep = w > 0
    names = PARAM_NAMES[model]
    try:
        bf = fast_fit(model, (f[keep], r[keep], T[keep]), w[keep], est["penalizer"],
                      start=est["model"])
        out = {k: float(bf.params_[k]) for k in names}
        total = None
        if est["gg"] is not None:
            sel = (x > 0) & (m > 0) & (counts > 0)
            gf = fast_fit("gg", (x[sel], m[sel]), counts[sel], est["gg_penalizer"],
                          start=est["gg"])
            out.update({k: float(gf.params_[k]) for k in ("p", "q", "v")})
            disc = discounted_transactions(bf, f, r, T, params.clv_horizon_months,
                                           monthly_rate(params.discount_rate),
                                           params.time_unit.freq)
            total = float((arrays["margin"] * expected_spend(gf, x, m) * disc[codes]).sum())
        return out, total
    except Exception:
        return None


def bootstrap(customers: pd.DataFrame, params: ClvParams, fitter, ggf,
              iterations: int, seed: int, n_jobs: int | None = None,
              triples: tuple[pd.DataFrame, np.ndarray] | None = None) -> dict[str, Any]:
    """90 % intervals of the model parameters and the total predicted CLV.

    Each replicate has its own seed from ``SeedSequence(seed)``, so the result does not
    depend on how many processes run them (both cores by default)."""
    model = model_key(fitter)
    u, codes = triples_of(customers, triples)
    arrays = {"codes": codes, "f": u["frequency"].to_numpy(), "r": u["recency"].to_numpy(),
              "T": u["T"].to_numpy(),
              "x": customers["frequency"].to_numpy(dtype="float64"),
              "m": customers["monetary_value"].to_numpy(dtype="float64"),
              "margin": margin_ratio(customers, params)}
    # the refits use the penalizer of the fits they repeat (a fallback one included)
    est = {"model": fitter.params_.to_numpy(dtype="float64"),
           "penalizer": float(fitter.penalizer_coef),
           "gg": ggf.params_.to_numpy(dtype="float64") if ggf is not None else None,
           "gg_penalizer": float(ggf.penalizer_coef) if ggf is not None else 0.0}
    seeds = np.random.SeedSequence(seed).spawn(iterations)
    jobs = n_jobs if n_jobs is not None else (min(2, os.cpu_count() or 1)
                                              if iterations >= 20 else 1)
    results = Parallel(n_jobs=jobs)(delayed(_replicate)(s, model, arrays, est, params)
                                    for s in seeds)
    ok = [res for res in results if res is not None]
    names = PARAM_NAMES[model] + (["p", "q", "v"] if ggf is not None else [])
    q = lambda v: [float(np.quantile(v, 0.05)), float(np.quantile(v, 0.95))] if v else None
    totals = [t for _, t in ok if t is not None]
    return {"iterations": iterations, "failed": iterations - len(ok), "level": 0.90,
            "params": {k: q([p[k] for p, _ in ok]) for k in names},
            "total_predicted_clv": q(totals)}
