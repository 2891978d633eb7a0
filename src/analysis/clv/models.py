"""The purchase and spend models: lifetimes' fitters, subclassed, and how they are fitted.

Each model is a subclass of its lifetimes fitter (:class:`BetaGeo`, :class:`ParetoNBD`,
:class:`ModifiedBetaGeo`, :class:`GammaGamma`), so lifetimes' prediction and plotting
methods work on it unchanged. :meth:`~BetaGeo.from_params` builds one carrying given
estimates (what :func:`fast_fit` and the bootstrap produce) instead of patching
``params_`` onto a bare lifetimes instance.

* **Weighted fits**: customers with the same (frequency, recency, T) are one likelihood
  term, so the fitters get the unique triples with their counts as ``weights`` (same
  estimates, tested; much faster on large data).
* **Fast fits** (BG/NBD and Gamma-Gamma): lifetimes' objective, time scaling, starting
  point and penalizer, maximised with analytic gradients (``likelihood.py``) instead of
  autograd and without lifetimes' Hessian: ~10x faster; tests check the estimates against
  lifetimes.
"""
from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter

from .likelihood import (bgnbd_objective, gg_objective, minimise, minimise_numeric,
                         numeric_objective, paretonbd_p_alive)

__all__ = ["MODEL_NAMES", "PARAM_NAMES", "MIN_CUSTOMERS", "MIN_REPEAT_BUYERS",
           "FALLBACK_PENALIZER", "BetaGeo", "ParetoNBD", "ModifiedBetaGeo", "GammaGamma",
           "fitter_class", "model_key", "FIT_SAMPLE", "WARM_START_ABOVE", "WARM_START_SAMPLE",
           "fit_rows", "unique_triples",
           "fit_purchase_model", "fit_weighted",
           "fit_gamma_gamma", "fit_gamma_gamma_lifetimes", "gamma_gamma_sample", "params_of",
           "fast_fit", "with_fallback", "fit_problem", "one_line", "quiet"]

MODEL_NAMES = {"bgnbd": "BG/NBD", "paretonbd": "Pareto/NBD", "mbgnbd": "MBG/NBD"}
PARAM_NAMES = {"bgnbd": ["r", "alpha", "a", "b"], "paretonbd": ["r", "alpha", "s", "beta"],
               "mbgnbd": ["r", "alpha", "a", "b"], "gg": ["p", "q", "v"]}
MIN_CUSTOMERS = 10
MIN_REPEAT_BUYERS = 5
FALLBACK_PENALIZER = 0.001


class _FromParams:
    """``from_params``: a fitter carrying given estimates, ready for its prediction methods."""
    param_names: list[str] = []

    @classmethod
    def from_params(cls, values, penalizer: float = 0.0):
        """A model carrying ``values``; ``penalizer``: the one they were fitted with (the
        bootstrap refits with the same)."""
        fitter = cls(penalizer_coef=penalizer)
        fitter.params_ = pd.Series(np.asarray(values, dtype="float64"),
                                   index=list(cls.param_names))
        return fitter


class _PurchaseModel(_FromParams):
    """A purchase model: ``predict`` is the expected repeat purchases up to ``t`` (lifetimes
    sets it only when it fits; a model built from estimates has it too)."""

    def predict(self, t, frequency, recency, T):
        return self.conditional_expected_number_of_purchases_up_to_time(t, frequency,
                                                                        recency, T)


class BetaGeo(_PurchaseModel, BetaGeoFitter):
    """BG/NBD (Fader, Hardie & Lee 2005)."""
    param_names = PARAM_NAMES["bgnbd"]


class ModifiedBetaGeo(_PurchaseModel, ModifiedBetaGeoFitter):
    """MBG/NBD (Batislam, Denizel & Filiztekin 2007)."""
    param_names = PARAM_NAMES["mbgnbd"]


class ParetoNBD(_PurchaseModel, ParetoNBDFitter):
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987). P(alive) and the conditional
    expected purchases are computed in logs (:func:`~.likelihood.paretonbd_p_alive`):
    lifetimes' formulas give NaN for very frequent buyers; tests check both equal
    lifetimes where it is finite."""
    param_names = PARAM_NAMES["paretonbd"]

    def conditional_probability_alive(self, frequency, recency, T, pairs=None):
        """``pairs``: ``likelihood.pareto_pairs`` of the data, when computed already."""
        r, alpha, s, beta = (float(self.params_[k]) for k in self.param_names)
        return paretonbd_p_alive(r, alpha, s, beta, frequency, recency, T, pairs)

    def conditional_expected_number_of_purchases_up_to_time(self, t, frequency, recency, T,
                                                           p_alive=None):
        """E[Y(t) | x, tₓ, T] = (r + x)(β + T) / ((α + T)(s − 1)) · (1 − ((β + T) /
        (β + T + t))^(s − 1)) · P(alive) (Fader & Hardie 2005, eq. 22). ``p_alive``: the
        customers' P(alive), when already computed (it does not depend on t)."""
        r, alpha, s, beta = (float(self.params_[k]) for k in self.param_names)
        x = np.asarray(frequency, dtype="float64")
        T = np.asarray(T, dtype="float64")
        with np.errstate(all="ignore"):
            if abs(s - 1) < 1e-9:  # the limit s -> 1
                factor = (r + x) * (beta + T) / (alpha + T) \
                    * np.log((beta + T + t) / (beta + T))
            else:
                factor = (r + x) * (beta + T) / ((alpha + T) * (s - 1)) * \
                    (1 - ((beta + T) / (beta + T + t)) ** (s - 1))
        if p_alive is None:
            p_alive = self.conditional_probability_alive(x, recency, T)
        return factor * p_alive


class GammaGamma(_FromParams, GammaGammaFitter):
    """Gamma-Gamma model of the mean spend of repeat buyers."""
    param_names = PARAM_NAMES["gg"]


def fitter_class(model: str) -> type:
    return {"bgnbd": BetaGeo, "paretonbd": ParetoNBD, "mbgnbd": ModifiedBetaGeo,
            "gg": GammaGamma}[model]


def model_key(fitter) -> str:
    """The model name ('bgnbd', 'mbgnbd', 'paretonbd' or 'gg') of a fitted model."""
    for key in ("bgnbd", "mbgnbd", "paretonbd", "gg"):
        if type(fitter) is fitter_class(key):
            return key
    raise TypeError(f"not one of the project's models: {type(fitter).__name__}")


#: above this many customers, the models are fitted on a seeded random sample of this many
#: (their estimates' standard errors are then the sample's; predictions cover everyone)
FIT_SAMPLE = 500_000

#: above this many distinct (frequency, recency, T), a Pareto/NBD fit (numerical gradients)
#: starts where a fit on a seeded sample of WARM_START_SAMPLE customers ends: a third
#: fewer costly iterations, the same optimum (at 255,748 triples: 10.6 s -> 7.2 s)
WARM_START_ABOVE = 50_000
WARM_START_SAMPLE = 20_000


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


def quiet(fn, *args, **kwargs):
    """Call a lifetimes fitter without its printouts and runtime warnings."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def fit_purchase_model(model: str, frequency, recency, T, weights=None, penalizer: float = 0.0,
                       start=None):
    """Fit a lifetimes purchase model (weights: counts of identical customers). ``start``:
    estimates in the data's time unit to start from (a warm start, as for bootstrap
    replicates), turned into lifetimes' starting point (time scaled so that max T = 1; log
    parameters except for Pareto/NBD, whose objective takes them as they are)."""
    fitter = fitter_class(model)(penalizer_coef=penalizer)
    kwargs = {}
    if start is None and model == "paretonbd":
        # lifetimes starts Pareto/NBD at a random point (unseeded); start at the centre of
        # its random draws instead, so that a fit is reproducible
        kwargs["initial_params"] = np.ones(4)
    if start is not None:
        scale = 1.0 / float(np.max(np.asarray(T, dtype="float64")))
        rates = [1, scale, 1, scale] if model == "paretonbd" else [1, scale, 1, 1]
        values = np.asarray(start, dtype="float64") * rates
        kwargs["initial_params"] = values if model == "paretonbd" else np.log(values)
    return quiet(fitter.fit, np.asarray(frequency), np.asarray(recency), np.asarray(T),
                 weights=None if weights is None else np.asarray(weights), **kwargs)


def fit_weighted(model: str, frequency, recency, T, penalizer: float = 0.0,
                 triples: pd.DataFrame | None = None):
    """Fit on the unique triples with their counts as weights (same estimates, faster).
    ``triples``: the ``unique_triples`` table of these customers, when already computed."""
    u = triples if triples is not None else unique_triples(frequency, recency, T)[0]
    return fast_fit(model, (u["frequency"], u["recency"], u["T"]), u["weight"], penalizer)


def fit_gamma_gamma(frequency, monetary, weights=None, penalizer: float = 0.0):
    """Gamma-Gamma spend model (``fast_fit``: lifetimes' objective, analytic gradient)."""
    return fast_fit("gg", (frequency, monetary), weights, penalizer)


def fit_gamma_gamma_lifetimes(frequency, monetary, weights=None, penalizer: float = 0.0):
    """lifetimes' own Gamma-Gamma fit: the reference the tests and benchmarks compare with."""
    return quiet(GammaGammaFitter(penalizer_coef=penalizer).fit, np.asarray(frequency),
                  np.asarray(monetary), weights=None if weights is None else
                  np.asarray(weights))


def gamma_gamma_sample(frequency, monetary) -> pd.DataFrame:
    """Repeat buyers with a positive monetary value, grouped into unique pairs with counts."""
    frame = pd.DataFrame({"frequency": np.asarray(frequency, dtype="float64"),
                          "monetary_value": np.asarray(monetary, dtype="float64")})
    frame = frame[(frame["frequency"] > 0) & (frame["monetary_value"] > 0)]
    return frame.groupby(["frequency", "monetary_value"]).size().rename("weight").reset_index()


def params_of(fitter) -> dict[str, float]:
    return {k: float(v) for k, v in fitter.params_.items()}


def fast_fit(kind: str, data: tuple, weights=None, penalizer: float = 0.0, start=None):
    """Fit BG/NBD, MBG/NBD or Pareto/NBD (``data`` = frequency, recency, T) or Gamma-Gamma
    (frequency, mean spend) by maximum likelihood; returns the model's class (e.g.
    :class:`BetaGeo`) carrying the estimates, so its prediction methods work as usual.
    ``start``: parameters to start from (a warm start, as for bootstrap replicates).

    Same objective, time scaling and penalizer as lifetimes, and no Hessian (lifetimes
    computes one for standard errors after every fit; the project reports bootstrap
    intervals and ``diagnostics`` standard errors instead). BG/NBD, MBG/NBD and Gamma-Gamma
    use analytic gradients (~10x faster than autograd, and than central differences);
    Pareto/NBD minimises the likelihood of ``likelihood.py`` with numerical gradients,
    which converges where lifetimes' Nelder-Mead stops short (and starts at a random
    point); lifetimes' MBG/NBD BFGS fails next to a warm start. Tests check the estimates
    against lifetimes."""
    arrays = [np.asarray(v, dtype="float64") for v in data]
    w = np.ones(len(arrays[0])) if weights is None else np.asarray(weights, dtype="float64")
    if kind == "paretonbd":
        x, tx, T = arrays
        if start is None and len(x) > WARM_START_ABOVE:
            start = _sample_estimates(kind, arrays, w, penalizer)
        scale = 1.0 / T.max()  # as lifetimes: time scaled so that max T = 1
        rates = np.array([1, scale, 1, scale])
        x0 = np.zeros(4) if start is None else np.log(np.asarray(start, dtype="float64")
                                                      * rates)
        theta = np.exp(minimise_numeric(numeric_objective(kind, x, tx * scale, T * scale, w,
                                                          penalizer), x0)) / rates
        return fitter_class(kind).from_params(theta, penalizer)
    if kind in ("bgnbd", "mbgnbd"):
        x, tx, T = arrays
        scale = 1.0 / T.max()  # lifetimes scales time so that max T = 1; penalised fits agree
        x0 = 0.1 * np.ones(4) if kind == "bgnbd" else np.zeros(4)
        if start is not None:
            x0 = np.log(np.asarray(start, dtype="float64") * [1, scale, 1, 1])
        theta = np.exp(minimise(bgnbd_objective(x, tx * scale, T * scale, w, penalizer,
                                                modified=kind == "mbgnbd"), x0))
        theta[1] /= scale
        return fitter_class(kind).from_params(theta, penalizer)
    x0 = 0.1 * np.ones(3) if start is None else np.log(np.asarray(start, dtype="float64"))
    theta = np.exp(minimise(gg_objective(arrays[0], arrays[1], w, penalizer), x0))
    return GammaGamma.from_params(theta, penalizer)


def _sample_estimates(kind: str, arrays: list[np.ndarray], w: np.ndarray,
                      penalizer: float) -> np.ndarray | None:
    """Estimates from :data:`WARM_START_SAMPLE` customers drawn (seeded) from the weighted
    triples, to start the whole fit from; None when that fit fails (a cold start then)."""
    rng = np.random.default_rng(0)
    counts = np.bincount(rng.choice(len(w), WARM_START_SAMPLE, p=w / w.sum()),
                         minlength=len(w))
    keep = counts > 0
    try:
        return fast_fit(kind, tuple(a[keep] for a in arrays), counts[keep],
                        penalizer).params_.to_numpy(dtype="float64")
    except Exception:  # ConvergenceError and numerical failures: no warm start
        return None


def with_fallback(fit, penalizer: float, what: str, warnings_out: list[str]):
    """Fit; if that fails without a penalizer, retry once with a small one (lifetimes' own
    advice) and say so in the warnings."""
    try:
        fitter = fit(penalizer)
        if not np.isfinite(fitter.params_.to_numpy(dtype="float64")).all():
            raise FloatingPointError("non-finite parameters")
        return fitter
    except Exception:
        if penalizer:
            raise
    fitter = fit(FALLBACK_PENALIZER)
    warnings_out.append(f"the {what} fit converged only with a penalizer of "
                        f"{FALLBACK_PENALIZER} (shrinks the estimates slightly)")
    return fitter


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or exc.__class__.__name__


def fit_problem(frequency: pd.Series) -> str | None:
    n = len(frequency)
    repeat = int((frequency > 0).sum())
    if n < MIN_CUSTOMERS:
        return f"too few customers ({n}, at least {MIN_CUSTOMERS} needed)"
    if repeat == 0:
        return "no repeat buyers (everyone bought on one day only)"
    if repeat < MIN_REPEAT_BUYERS:
        return f"too few repeat buyers ({repeat}, at least {MIN_REPEAT_BUYERS} needed)"
    return None
