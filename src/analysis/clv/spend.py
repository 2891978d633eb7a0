"""The spend model a run uses: Gamma-Gamma, or, where Gamma-Gamma fails, each repeat buyer's
mean spend shrunk toward the population's (:class:`ShrunkMean`), said as such.

:class:`ShrunkMean` is credibility weighting (Bühlmann–Straub): a repeat buyer's expected
spend per purchase is ``w·m + (1 − w)·μ`` with ``w = x / (x + k)`` (x repeat purchases,
m their mean spend), μ the population's mean spend per repeat purchase (Σ x·m / Σ x), and
``k = σ² / τ²``, the spread of one customer's purchases (σ²) over the spread of the
customers' own means (τ²). Both come from the data by moments: the squared distance of a
customer's mean from μ is τ² + σ²/x on average, a straight line in 1/x fitted by weighted
least squares over the repeat buyers. A customer without repeat purchase gets μ. It has
no distribution for the individual purchases, so it cannot be wrong in the ways Gamma-Gamma
can (q ≤ 1: an infinite mean), and it is what an analyst would compute by hand.
"""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..config import ClvParams
from ..messages import Message, Status, msg
from .models import (MIN_REPEAT_BUYERS, NUMERICAL_FAILURES, GammaGamma, fit_gamma_gamma,
                     gamma_gamma_sample, one_line, params_of, with_fallback)

__all__ = ["ShrunkMean", "fit_spend", "spend_entry", "spend_for_run"]


class ShrunkMean:
    """Each repeat buyer's mean spend shrunk toward the population's (module docstring)."""
    key: ClassVar[str] = "shrunk_mean"
    name: ClassVar[str] = "shrunk mean"
    param_names: ClassVar[tuple[str, ...]] = ("mean", "k")
    #: no likelihood: the normal-approximation intervals keep it fixed
    has_likelihood: ClassVar[bool] = False

    def __init__(self, mean: float, k: float, penalizer_coef: float = 0.0):
        self.params_ = pd.Series([float(mean), float(k)], index=list(self.param_names))
        self.penalizer_coef = penalizer_coef

    @classmethod
    def from_params(cls, values, penalizer: float = 0.0) -> "ShrunkMean":
        return cls(*values, penalizer_coef=penalizer)

    @classmethod
    def estimate(cls, data, weights=None, penalizer: float = 0.0, start=None) -> "ShrunkMean":
        """μ and k from the repeat buyers' (x, m) (``weights``: how many customers each
        pair stands for); ``penalizer`` and ``start`` are taken as the bootstrap passes them
        to every spend model, and not needed."""
        x, m = (np.asarray(v, dtype="float64") for v in data)
        w = np.ones_like(x) if weights is None else np.asarray(weights, dtype="float64")
        keep = (x > 0) & (m > 0) & (w > 0)
        x, m, w = x[keep], m[keep], w[keep]
        if not len(x):
            raise ValueError(msg("reason.gg_too_few"))
        mean = float((w * x * m).sum() / (w * x).sum())
        k = _credibility_k(x, m, w, mean)
        return cls(mean, k, penalizer)

    def expected_spend(self, x, m) -> np.ndarray:
        x = np.asarray(x, dtype="float64")
        m = np.asarray(m, dtype="float64")
        mean, k = self.params_["mean"], self.params_["k"]
        if not np.isfinite(k):
            return np.full(len(x), mean)
        weight = np.where(x > 0, x / (x + k), 0.0)
        return weight * np.where(x > 0, m, 0.0) + (1 - weight) * mean

    def as_dict(self) -> dict[str, float]:
        return params_of(self)


def _credibility_k(x: np.ndarray, m: np.ndarray, w: np.ndarray, mean: float) -> float:
    """k = σ²/τ² from the weighted least-squares line (m − μ)² = τ² + σ²·(1/x); infinite
    (everyone gets μ) when the customers' means do not differ beyond chance (τ² ≤ 0), 0
    (everyone keeps their own mean) when one customer's purchases do not vary (σ² ≤ 0)."""
    y = (m - mean) ** 2
    design = np.column_stack([np.ones_like(x), 1 / x])
    if len(np.unique(x)) < 2:  # one frequency: the line has no slope to fit
        return 0.0
    sw = np.sqrt(w)
    (tau2, sigma2), *_ = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)
    if tau2 <= 0:
        return float("inf")
    return max(float(sigma2 / tau2), 0.0)


def fit_spend(frequency, monetary, params: ClvParams, warnings: list
              ) -> tuple[Any, Message | None]:
    """The spend model of these customers: Gamma-Gamma (the penalizer fallback as for the
    purchase models), or, when it cannot be fitted or its fit has no finite mean (q ≤ 1),
    :class:`ShrunkMean`, with the reason Gamma-Gamma failed; (None, the reason) when
    there are no repeat buyers with a positive spend to estimate anything from."""
    gg = gamma_gamma_sample(frequency, monetary)
    failure: Message | None = None
    if gg["weight"].sum() < MIN_REPEAT_BUYERS or len(gg) < 2:
        failure = msg("spend.too_few", n=int(gg["weight"].sum()), needed=MIN_REPEAT_BUYERS)
    else:
        tried: list = []
        try:
            ggf = with_fallback(
                lambda pen: fit_gamma_gamma(gg["frequency"], gg["monetary_value"],
                                            gg["weight"], pen),
                params.penalizer, "Gamma-Gamma", tried)
            if ggf.params_["q"] <= 1:
                raise FloatingPointError(msg("error.q_at_most_1"))
            warnings += tried
            return ggf, None
        except NUMERICAL_FAILURES as exc:
            failure = msg("spend.failed", error=one_line(exc))
    if not len(gg):
        return None, failure
    return ShrunkMean.estimate((gg["frequency"], gg["monetary_value"]), gg["weight"]), failure


def spend_entry(spend, failure: Message | None, customers: int) -> dict[str, Any] | None:
    """``spend_model`` of metrics.json: the model used, its estimates, the repeat buyers it
    is estimated on, and why Gamma-Gamma was not used (None when it was)."""
    if spend is None and failure is None:
        return None
    return {"model": None if spend is None else spend.name,
            "params": None if spend is None else params_of(spend),
            "customers": customers, "gamma_gamma_failure": failure}


def spend_for_run(customers: pd.DataFrame, params: ClvParams, metrics: dict
                 ) -> tuple[Any, Status]:
    """The spend model (``spend.fit_spend``: Gamma-Gamma, or the shrunk mean, said in the
    warnings with why; None when there is no repeat buyer with a positive spend) and the
    stage's status that follows."""
    spend, failure = fit_spend(customers["frequency"], customers["monetary_value"], params,
                               metrics["warnings"])
    repeat = int(((customers["frequency"] > 0) & (customers["monetary_value"] > 0)).sum())
    metrics["spend_model"] = spend_entry(spend, failure, repeat)
    metrics["gamma_gamma"] = {**params_of(spend), "customers": repeat} \
        if isinstance(spend, GammaGamma) else None
    if spend is None:
        return None, Status("partial", msg("reason.gg_too_few"))
    if failure is not None:
        metrics["warnings"].append(msg("warning.spend_fallback", reason=failure,
                                       **params_of(spend)))
    return spend, Status("ok")
