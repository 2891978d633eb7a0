"""What every purchase model and every spend model carries: the protocol behind the registry.

A purchase model is a class with

* its ``key`` (the ``clv_model`` value), ``name`` (shown), ``param_names`` and ``bounds``
  (the range a shape parameter may take before a fit counts as run to the edge,
  ``diagnostics``), ``rate_params`` (those in 1 / time: they scale with the time unit);
* the per-customer log-likelihood in the data's own time unit (:meth:`per_customer`) and
  the objective a fit minimises (:meth:`objective`: the negative mean log-likelihood plus
  lifetimes' penalizer, with its analytic gradient where ``analytic_gradient``);
* expected repeat purchases (:meth:`expected_fn`, :meth:`unconditional_expected`),
  P(alive) (:meth:`p_alive`), the probability of no purchase in the next ``t``
  (:meth:`p_no_purchase`), and a simulator of customers' (frequency, recency, T)
  (:meth:`simulate`), which is what the parameter-recovery tests draw from.

Fits are the class method :meth:`~PurchaseModel.estimate` (lifetimes' ``fit`` stays the
lifetimes fitter's own, the reference the tests compare with). A model built from estimates
(:meth:`from_params`) carries them in ``params_`` and the penalizer it was fitted with in
``penalizer_coef``, as lifetimes' fitters do; the models lifetimes has are subclasses of its
fitters, so its own methods work on them unchanged. Adding a model is one file with one such
class, and one line in ``models/registry.py``.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any, Callable, ClassVar

import numpy as np
import pandas as pd

from ..likelihood import ConvergenceError, minimise, minimise_numeric

__all__ = ["NUMERICAL_FAILURES", "SHAPE_BOUNDS", "PurchaseModel", "SpendModel", "Standalone",
           "quiet", "shape_bounds", "poisson_summaries"]

#: what a fit raises when the numbers fail it (a programming error is not among them)
NUMERICAL_FAILURES = (ConvergenceError, FloatingPointError, ValueError, ZeroDivisionError,
                      OverflowError, np.linalg.LinAlgError)

#: a shape parameter outside this range means the optimiser ran to the edge of its space
SHAPE_BOUNDS = (1e-4, 1e4)


def shape_bounds(*names: str) -> dict[str, tuple[float, float]]:
    return {k: SHAPE_BOUNDS for k in names}


def quiet(fn, *args, **kwargs):
    """Call a lifetimes fitter without its printouts and runtime warnings."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


class _Estimates:
    """``from_params`` and ``params_``: a model carrying given estimates."""
    key: ClassVar[str] = ""
    name: ClassVar[str] = ""
    param_names: ClassVar[tuple[str, ...]] = ()
    #: plausible estimates, in weeks: the model's fit to CDNOW's 2,357-customer sample
    #: (calibration period; Gamma-Gamma's published fit), what the simulator-based tests
    #: draw from
    example: ClassVar[tuple[float, ...]] = ()
    #: the shape parameters' plausible range (``diagnostics.fit_reasons``)
    bounds: ClassVar[dict[str, tuple[float, float]]] = {}
    #: log of the parameters a fit starts from when not warm-started
    cold_start: ClassVar[float] = 0.0
    analytic_gradient: ClassVar[bool] = True

    @classmethod
    def from_params(cls, values, penalizer: float = 0.0):
        """A model carrying ``values`` (in :attr:`param_names` order); ``penalizer``: the
        one they were fitted with (the bootstrap refits with the same)."""
        model = cls(penalizer_coef=penalizer)
        model.params_ = pd.Series(np.asarray(values, dtype="float64"),
                                  index=list(cls.param_names))
        return model

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.params_.items()}

    def theta(self) -> np.ndarray:
        return self.params_[list(self.param_names)].to_numpy(dtype="float64")

    @classmethod
    def _minimise(cls, objective, x0) -> np.ndarray:
        return minimise(objective, x0) if cls.analytic_gradient else \
            minimise_numeric(objective, x0)


class Standalone:
    """The constructor of a model lifetimes does not have (lifetimes' fitters take the
    same keyword)."""

    def __init__(self, penalizer_coef: float = 0.0):
        self.penalizer_coef = penalizer_coef


class PurchaseModel(_Estimates):
    """The protocol of a purchase model (see the module's docstring). Subclasses define
    :meth:`per_customer` and :meth:`objective`, :meth:`expected_repeat`, :meth:`p_alive`,
    :meth:`p_no_purchase`, :meth:`unconditional_expected` and :meth:`simulate`."""
    rate_params: ClassVar[tuple[str, ...]] = ("alpha",)
    #: True where P(alive) of a one-time buyer is 1 (the report says what that means)
    one_time_buyers_alive: ClassVar[bool] = False
    #: part of ``clv_model: auto``'s comparison
    compared: ClassVar[bool] = True
    #: above this many distinct triples a fit starts from a fit on a sample (None: never)
    warm_start_above: ClassVar[int | None] = None

    # -- likelihood ------------------------------------------------------------------
    #: ``f(*theta, x, tx, T)``: each customer's log-likelihood in the data's time unit
    loglik_fn: ClassVar[Callable]
    #: ``f(x, tx, T, weights, penalizer)``: the objective a fit minimises (``objective``)
    objective_fn: ClassVar[Callable]

    @classmethod
    def per_customer(cls, theta, x, tx, T, pairs=None) -> np.ndarray:
        """Each customer's log-likelihood in the data's own time unit (``pairs``: what
        :meth:`precompute` gave for these customers, for a model that uses it)."""
        return cls.loglik_fn(*theta, x, tx, T)

    @classmethod
    def objective(cls, x, tx, T, weights, penalizer: float) -> Callable:
        """The negative mean log-likelihood plus ``penalizer * Σ params²`` as a function of
        the log parameters; returns (value, gradient) where :attr:`analytic_gradient`."""
        return cls.objective_fn(x, tx, T, weights, penalizer)

    @classmethod
    def precompute(cls, x, tx, T) -> Any:
        """What the model's formulas can share across calls on the same customers (None)."""
        return None

    def loglik(self, x, tx, T, weights=None, pairs=None) -> float:
        """Total log-likelihood of these estimates (weights: counts of identical customers)."""
        x, tx, T = (np.asarray(v, dtype="float64") for v in (x, tx, T))
        w = np.ones_like(x) if weights is None else np.asarray(weights, dtype="float64")
        return float((w * self.per_customer(self.theta(), x, tx, T, pairs)).sum())

    @classmethod
    def time_rates(cls, scale: float) -> np.ndarray:
        """The factor each parameter is multiplied by when time is scaled by ``scale``."""
        return np.array([scale if k in cls.rate_params else 1 for k in cls.param_names],
                        dtype="float64")

    @classmethod
    def estimate(cls, data: tuple, weights=None, penalizer: float = 0.0, start=None):
        """Maximum likelihood on (frequency, recency, T) with lifetimes' objective, time
        scaling (max T = 1) and penalizer, without its Hessian. ``start``: estimates to
        start from (a warm start, as for bootstrap replicates)."""
        x, tx, T = (np.asarray(v, dtype="float64") for v in data)
        w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype="float64")
        if start is None and cls.warm_start_above is not None and len(x) > cls.warm_start_above:
            start = cls._sample_estimates((x, tx, T), w, penalizer)
        scale = 1.0 / T.max()  # as lifetimes: time scaled so that max T = 1
        rates = cls.time_rates(scale)
        x0 = np.full(len(cls.param_names), cls.cold_start) if start is None else \
            np.log(np.asarray(start, dtype="float64") * rates)
        lp = cls._minimise(cls.objective(x, tx * scale, T * scale, w, penalizer), x0)
        return cls.from_params(np.exp(lp) / rates, penalizer)

    #: customers drawn (seeded) from the weighted triples for a warm start's fit
    WARM_START_SAMPLE: ClassVar[int] = 20_000

    @classmethod
    def _sample_estimates(cls, arrays: tuple, w: np.ndarray, penalizer: float
                          ) -> np.ndarray | None:
        """Estimates from :attr:`WARM_START_SAMPLE` customers drawn (seeded) from the
        weighted triples, to start the whole fit from; None when that fit fails (a cold
        start then)."""
        rng = np.random.default_rng(0)
        counts = np.bincount(rng.choice(len(w), cls.WARM_START_SAMPLE, p=w / w.sum()),
                             minlength=len(w))
        keep = counts > 0
        try:
            return cls.estimate(tuple(a[keep] for a in arrays), counts[keep],
                                penalizer).theta()
        except NUMERICAL_FAILURES:  # no warm start
            return None

    # -- predictions ----------------------------------------------------------------
    def p_alive(self, x, tx, T, pairs=None) -> np.ndarray:
        """P(alive | x, tₓ, T)."""
        raise NotImplementedError

    def expected_repeat(self, t, x, tx, T) -> np.ndarray:
        """E[repeat purchases in (T, T + t] | x, tₓ, T]."""
        raise NotImplementedError

    def expected_fn(self, x, tx, T, pairs=None) -> Callable[[float], np.ndarray]:
        """``t -> expected_repeat(t, x, tx, T)`` for many ``t`` on the same customers
        (a model may compute what does not depend on t once)."""
        def at(t):
            with np.errstate(all="ignore"):
                return np.asarray(self.expected_repeat(t, x, tx, T), dtype="float64")
        return at

    def unconditional_expected(self, t) -> np.ndarray:
        """E[X(t)]: repeat purchases of a new customer in the first ``t`` after the first."""
        raise NotImplementedError

    def p_no_purchase(self, t, x, tx, T) -> np.ndarray:
        """P(no purchase in (T, T + t] | x, tₓ, T)."""
        raise NotImplementedError

    @classmethod
    def simulate(cls, theta, T, seed: int) -> pd.DataFrame:
        """Customers drawn from the model with parameters ``theta``, each observed for
        ``T`` (an array: time from the first purchase to the end) after their first
        purchase: their ``frequency``, ``recency`` and ``T``."""
        raise NotImplementedError


def poisson_summaries(rng, lam: np.ndarray, T: np.ndarray, drop: Callable | None,
                      death: np.ndarray | None = None) -> pd.DataFrame:
    """Repeat purchases of customers buying at rates ``lam`` from time 0 to ``T`` (or their
    ``death``), each dropping out after a purchase when ``drop(alive)`` says so (a boolean
    per customer, or None: never): their frequency, recency and T."""
    n = len(lam)
    end = T if death is None else np.minimum(T, death)
    x, tx, t = np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        t = t + rng.exponential(1.0, n) / np.maximum(lam, 1e-12)
        alive &= t < end
        x += alive
        tx = np.where(alive, t, tx)
        if drop is not None:
            alive &= ~drop(alive)
    return pd.DataFrame({"frequency": x, "recency": tx, "T": np.asarray(T, dtype="float64")})


class SpendModel(_Estimates):
    """The protocol of a spend model: the mean spend of repeat buyers given their repeat
    purchases ``x`` and mean spend ``m``."""

    @classmethod
    def per_customer(cls, theta, x, m) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def objective(cls, x, m, weights, penalizer: float) -> Callable:
        raise NotImplementedError

    @classmethod
    def estimate(cls, data: tuple, weights=None, penalizer: float = 0.0, start=None):
        """Maximum likelihood on (frequency, mean spend) of repeat buyers."""
        x, m = (np.asarray(v, dtype="float64") for v in data)
        w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype="float64")
        x0 = np.full(len(cls.param_names), cls.cold_start) if start is None else \
            np.log(np.asarray(start, dtype="float64"))
        return cls.from_params(np.exp(cls._minimise(cls.objective(x, m, w, penalizer), x0)),
                               penalizer)

    def loglik(self, x, m, weights=None) -> float:
        x, m = (np.asarray(v, dtype="float64") for v in (x, m))
        w = np.ones_like(x) if weights is None else np.asarray(weights, dtype="float64")
        return float((w * self.per_customer(self.theta(), x, m)).sum())

    def expected_spend(self, x, m) -> np.ndarray:
        """E[mean spend | x, m]; the population mean where x = 0."""
        raise NotImplementedError

    @classmethod
    def simulate(cls, theta, x, seed: int) -> np.ndarray:
        """The mean spend of customers with ``x`` repeat purchases drawn from the model."""
        raise NotImplementedError
