"""How the models are fitted on a run's customers: the fitting sample, identical customers
as one weighted term, the spend model's repeat buyers, the penalizer fallback, and the
checks that say a fit cannot be attempted.

* **Weighted fits**: customers with the same (frequency, recency, T) are one likelihood
  term, so the fits get the unique triples with their counts as weights (same estimates,
  tested; much faster on large data).
* **Fast fits**: each model's :meth:`~.base.PurchaseModel.estimate`, lifetimes' objective,
  time scaling, starting point and penalizer, maximised with analytic gradients where the
  model has them, without lifetimes' Hessian: ~10x faster; tests check the estimates
  against lifetimes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...messages import Message, msg
from .base import NUMERICAL_FAILURES, PurchaseModel
from .gamma_gamma import GammaGamma
from .registry import get

__all__ = ["MIN_CUSTOMERS", "MIN_REPEAT_BUYERS", "FALLBACK_PENALIZER", "FIT_SAMPLE",
           "fit_rows", "unique_triples", "fit_weighted", "fit_gamma_gamma",
           "gamma_gamma_sample", "params_of", "with_fallback", "fit_problem", "one_line"]

MIN_CUSTOMERS = 10
MIN_REPEAT_BUYERS = 5
FALLBACK_PENALIZER = 0.001

#: above this many customers, the models are fitted on a seeded random sample of this many
#: (their estimates' standard errors are then the sample's; predictions cover everyone)
FIT_SAMPLE = 500_000


def fit_rows(n: int, seed: int, size: int | None = None) -> np.ndarray | None:
    """Positions (sorted) of the customers the models are fitted on: a seeded random sample
    of ``size`` (default :data:`FIT_SAMPLE`) drawn without replacement when there are more
    than that many of ``n``; None when all are used."""
    size = FIT_SAMPLE if size is None else size
    if n <= size:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def unique_triples(frequency, recency, T) -> tuple[pd.DataFrame, np.ndarray]:
    """Unique (frequency, recency, T) with their counts (``weight``), and the index of each
    input row's triple in that table."""
    frame = pd.DataFrame({"frequency": np.asarray(frequency, dtype="float64"),
                          "recency": np.asarray(recency, dtype="float64"),
                          "T": np.asarray(T, dtype="float64")})
    groups = frame.groupby(["frequency", "recency", "T"], sort=True)
    codes = groups.ngroup().to_numpy()
    return groups.size().rename("weight").reset_index(), codes


def fit_weighted(model: str | type[PurchaseModel], frequency, recency, T, penalizer: float = 0.0,
                 triples: pd.DataFrame | None = None) -> PurchaseModel:
    """Fit ``model`` (a key or class) on the unique triples with their counts as weights
    (same estimates, faster). ``triples``: their ``unique_triples`` table, when computed."""
    u = triples if triples is not None else unique_triples(frequency, recency, T)[0]
    return get(model).estimate((u["frequency"], u["recency"], u["T"]), u["weight"], penalizer)


def fit_gamma_gamma(frequency, monetary, weights=None, penalizer: float = 0.0) -> GammaGamma:
    """Gamma-Gamma spend model (lifetimes' objective, analytic gradient)."""
    return GammaGamma.estimate((frequency, monetary), weights, penalizer)


def gamma_gamma_sample(frequency, monetary) -> pd.DataFrame:
    """Repeat buyers with a positive monetary value, grouped into unique pairs with counts."""
    frame = pd.DataFrame({"frequency": np.asarray(frequency, dtype="float64"),
                          "monetary_value": np.asarray(monetary, dtype="float64")})
    frame = frame[(frame["frequency"] > 0) & (frame["monetary_value"] > 0)]
    return frame.groupby(["frequency", "monetary_value"]).size().rename("weight").reset_index()


def params_of(fitter) -> dict[str, float]:
    return {k: float(v) for k, v in fitter.params_.items()}


def with_fallback(fit, penalizer: float, what: str, warnings_out: list[str]):
    """Fit; if that fails without a penalizer, retry once with a small one (lifetimes' own
    advice) and say so in the warnings."""
    try:
        fitter = fit(penalizer)
        if not np.isfinite(fitter.params_.to_numpy(dtype="float64")).all():
            raise FloatingPointError(msg("error.non_finite"))
        return fitter
    except NUMERICAL_FAILURES:
        if penalizer:
            raise
    fitter = fit(FALLBACK_PENALIZER)
    warnings_out.append(msg("warning.penalizer_fallback", what=what,
                            penalizer=FALLBACK_PENALIZER))
    return fitter


def one_line(exc: BaseException) -> Message | str:
    """A failure in one line: the message it carries (this package's), else its text."""
    if exc.args and isinstance(exc.args[0], Message):
        return exc.args[0]
    return " ".join(str(exc).split()) or exc.__class__.__name__


def fit_problem(frequency: pd.Series) -> Message | None:
    n = len(frequency)
    repeat = int((frequency > 0).sum())
    if n < MIN_CUSTOMERS:
        return msg("reason.too_few_customers", n=n, needed=MIN_CUSTOMERS)
    if repeat == 0:
        return msg("reason.no_repeat_buyers")
    if repeat < MIN_REPEAT_BUYERS:
        return msg("reason.too_few_repeat_buyers", n=repeat, needed=MIN_REPEAT_BUYERS)
    return None
