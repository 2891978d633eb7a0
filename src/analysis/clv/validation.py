"""Holdout validation: fit on a calibration period, predict the holdout, compare.

The window is split at ``calibration_end`` (default: the last 40 % is the holdout); the
purchase model is fitted on the calibration period and its predicted repeat purchases in
the holdout are compared with what happened and with a naive baseline (each customer
keeps repeating at their calibration rate), in total, per customer (mean absolute error),
week by week (:func:`tracking`) and by calibration frequency
(:func:`conditional_expectations`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..config import ClvParams
from ..handoff import ClvInputs
from ..messages import Status, msg
from ..units import TimeUnit, day_number, default_calibration_end
from .models import (DEFAULT, NUMERICAL_FAILURES, GammaGamma, fit_problem, fit_weighted,
                     gamma_gamma_sample, get, params_of, unique_triples, with_fallback)
from .backtest import money_scores
from .spend import fit_spend
from .timing import timing_scores
from .predict import expected_purchases_fn

__all__ = ["default_calibration_end", "tracking", "conditional_expectations", "Score",
           "HoldoutResult", "calibration_frame", "naive_predictions", "score",
           "holdout_result", "holdout", "holdout_error", "spend_entry"]


def tracking(repeat_days: pd.DataFrame, cohorts: pd.DataFrame, fitter, cal_end: pd.Timestamp,
             obs_end: pd.Timestamp, unit: TimeUnit) -> pd.DataFrame:
    """Weekly actual vs model repeat transactions of the calibration customers, from the
    transaction stage's counts (``aggregates.repeat_days_and_cohorts``: repeat purchase
    days per day, customers per first-purchase day).

    The model figure for week w is Σ over first-purchase days of (customers × E[X(t)]) at
    the week's end, E[X(t)] the unconditional expectation from the calibrated model."""
    end_day = day_number(obs_end)
    cal_day = day_number(cal_end)
    cf, cn = cohorts["first_day"].to_numpy(), cohorts["customers"].to_numpy()
    start_day = int(cf.min())
    edges = np.arange(start_day + 7, end_day + 8, 7)  # week ends (exclusive)
    edges[-1] = min(edges[-1], end_day + 1)
    day = repeat_days["day"].to_numpy()
    counts = np.cumsum(repeat_days["purchases"].to_numpy())
    at = np.searchsorted(day, edges, side="left")  # days before each edge
    actual = np.where(at > 0, counts[np.maximum(at - 1, 0)], 0) if len(day) else \
        np.zeros(len(edges), dtype="int64")
    expected = np.zeros(len(edges))
    for i, e in enumerate(edges):
        t = np.clip((e - cf), 0, None) / unit.days
        with np.errstate(all="ignore"):
            ex = np.asarray(fitter.unconditional_expected(t), dtype="float64")
        expected[i] = float((cn * np.nan_to_num(ex)).sum())
    week_start = pd.to_datetime(edges - 7, unit="D")
    out = pd.DataFrame({"week_start": week_start, "actual_cumulative": actual,
                        "model_cumulative": expected})
    out["actual"] = np.diff(np.concatenate([[0], actual]))
    out["model"] = np.diff(np.concatenate([[0.0], expected]))
    out["holdout"] = edges - 1 > cal_day
    return out


def conditional_expectations(ch: pd.DataFrame, predicted: Mapping[str, np.ndarray],
                             naive: np.ndarray, cap: int = 7) -> pd.DataFrame:
    """Mean holdout purchases by calibration frequency 0..cap+ : actual, each model's
    prediction (``predicted``: model name -> per-customer predictions) and the naive rule."""
    bucket = np.minimum(ch["frequency_cal"].to_numpy(), cap).astype(int)
    frame = pd.DataFrame({"bucket": bucket, "actual": ch["frequency_holdout"].to_numpy(),
                          **{name: np.asarray(v) for name, v in predicted.items()},
                          "naive": naive})
    out = frame.groupby("bucket").agg(customers=("actual", "size"), actual=("actual", "mean"),
                                      **{name: (name, "mean") for name in predicted},
                                      naive=("naive", "mean"))
    out.index = [f"{b}+" if b == cap else str(b) for b in out.index]
    out.index.name = "repeat purchases in calibration"
    return out


@dataclass
class Score:
    """One model fitted on the calibration period and scored on the holdout."""
    model: str
    status: Status
    metrics: dict[str, Any] = field(default_factory=dict)
    fitter: Any = None
    predicted: np.ndarray | None = None


@dataclass
class HoldoutResult:
    """The holdout check: status, its numbers, the calibration frame, the weekly tracking
    and the conditional expectations by calibration frequency."""
    status: Status
    calibration_end: str
    metrics: dict[str, Any] = field(default_factory=dict)
    frame: pd.DataFrame | None = None
    tracking: pd.DataFrame | None = None
    conditional: pd.DataFrame | None = None

    def entry(self) -> dict[str, Any]:
        """The ``holdout`` entry of metrics.json."""
        if self.status == "ok":
            return {"status": self.status, **self.metrics, "status_record": self.status.record()}
        return {"status": self.status, "calibration_end": self.calibration_end,
                "status_record": self.status.record()}

    def summary(self) -> pd.DataFrame:
        """Model vs naive baseline vs what happened: total holdout repeat purchases and the
        mean absolute error per customer."""
        m = self.metrics
        return pd.DataFrame({"model": [m["predicted"], m["mae"]],
                             "naive baseline": [m["naive_predicted"], m["naive_mae"]],
                             "actual": [m["actual"], None]},
                            index=["holdout repeat purchases (total)",
                                   "mean absolute error per customer"])


def calibration_frame(inputs: ClvInputs, obs_end: pd.Timestamp
                      ) -> tuple[pd.DataFrame | None, Status]:
    """Each calibration customer's summary up to the calibration end and purchases after
    it (from the transaction stage), with "ok"; or None and why the holdout check cannot
    run."""
    cal_end = inputs.calibration_end
    if cal_end >= obs_end or inputs.calibration is None:
        return None, Status("not validated", msg("reason.calibration_not_before_end",
                                                 date=str(cal_end.date()),
                                                 end=str(obs_end.date())))
    ch = inputs.calibration
    problem = fit_problem(ch["frequency_cal"])
    if problem:
        return None, Status("not validated", msg("reason.in_calibration", problem=problem))
    return ch, Status("ok")


def naive_predictions(ch: pd.DataFrame) -> np.ndarray:
    """The naive rule: each customer keeps repeating at their calibration rate."""
    return (ch["frequency_cal"] / ch["T_cal"].where(ch["T_cal"] > 0)).fillna(0).to_numpy() \
        * ch["duration_holdout"].to_numpy()


def score(model: str, ch: pd.DataFrame, params: ClvParams,
          triples: pd.DataFrame | None = None, spend=None,
          everyone: tuple[pd.DataFrame, np.ndarray] | None = None) -> Score:
    """Fit ``model`` on the calibration period and compare its holdout predictions with
    what happened: totals, mean absolute error per customer, and the naive rule's; in
    money with ``spend`` (the spend model of the calibration period), with the ranks,
    the AUC of P(alive) and the deciles (``backtest.money_scores``).
    ``triples``: the ``unique_triples`` table of the customers to fit on (the stage passes
    those of a sample above ``models.FIT_SAMPLE`` customers, once for three models);
    default: every customer's. The predictions and errors are every customer's, computed
    once per distinct triple and given to each customer who has it (``everyone``: every
    customer's ``unique_triples``, computed once per origin for all models; default: here)."""
    table, where = everyone if everyone is not None else \
        unique_triples(ch["frequency_cal"], ch["recency_cal"], ch["T_cal"])
    u = triples if triples is not None else table
    try:  # with the whole-window fit's fallback: a small penalizer when none converges
        fitter = with_fallback(
            lambda pen: fit_weighted(get(model), ch["frequency_cal"], ch["recency_cal"],
                                     ch["T_cal"], pen, triples=u),
            params.penalizer, get(model).name, [])
    except NUMERICAL_FAILURES as exc:
        return Score(model, Status("not validated", msg("reason.calibration_fit_failed",
                                                        error=exc.__class__.__name__)))
    x, tx, T = (table[c].to_numpy(dtype="float64") for c in ("frequency", "recency", "T"))
    pred = np.nan_to_num(expected_purchases_fn(fitter, x, tx, T)(
        float(ch["duration_holdout"].iloc[0])))[where]
    naive = naive_predictions(ch)
    with np.errstate(all="ignore"):
        alive = np.asarray(fitter.p_alive(x, tx, T), dtype="float64")[where]
    actual = ch["frequency_holdout"].to_numpy()
    with np.errstate(over="ignore", invalid="ignore"):  # a degenerate fit's huge numbers
        metrics = {**_scores(fitter, u, pred, naive, actual, alive, ch, spend),
                   **timing_scores(fitter, ch, params.time_unit.days, (table, where))}
    return Score(model, Status("ok"), metrics, fitter, pred)


def _scores(fitter, u, pred, naive, actual, alive, ch, spend) -> dict[str, Any]:
    """A calibrated model's holdout scores (:func:`score`)."""
    return {
        "customers": int(len(ch)),
        "params": params_of(fitter),
        "log_likelihood": fitter.loglik(u["frequency"], u["recency"], u["T"], u["weight"]),
        "actual": float(actual.sum()),
        "predicted": float(pred.sum()),
        "naive_predicted": float(naive.sum()),
        "mae": float(np.abs(pred - actual).mean()),
        "rmse": float(np.sqrt(((pred - actual) ** 2).mean())),
        "naive_mae": float(np.abs(naive - actual).mean()),
        **money_scores(pred, alive, ch, spend, naive),
    }


def spend_entry(spend, ch: pd.DataFrame) -> dict[str, Any] | None:
    """``holdout.gamma_gamma``: the calibration period's Gamma-Gamma estimates and the
    repeat buyers they rest on (None when its spend model is not Gamma-Gamma)."""
    if not isinstance(spend, GammaGamma):
        return None
    gg = gamma_gamma_sample(ch["frequency_cal"], ch["monetary_value_cal"])
    return {**params_of(spend), "customers": int(gg["weight"].sum())}


def holdout_result(inputs: ClvInputs, ch: pd.DataFrame, chosen: Score,
                   scores: Mapping[str, Score], params: ClvParams, obs_end: pd.Timestamp,
                   spend=None) -> HoldoutResult:
    """The holdout check of the chosen model: its numbers, the weekly tracking, and the
    conditional expectations of every scored model side by side (``spend``: the spend
    model of the calibration period, fitted once for the backtests)."""
    cal_end = inputs.calibration_end
    if chosen.status != "ok":
        return HoldoutResult(chosen.status, str(cal_end.date()))
    naive = naive_predictions(ch)
    metrics = {"calibration_end": str(cal_end.date()), "holdout_end": str(obs_end.date()),
               **chosen.metrics, "gamma_gamma": spend_entry(spend, ch)}
    frame = ch.assign(predicted_holdout=chosen.predicted, naive_holdout=naive)
    ok = {get(m).name: s.predicted for m, s in scores.items() if s.status.ok}
    return HoldoutResult(Status("ok"), str(cal_end.date()), metrics, frame,
                         tracking(inputs.repeat_days, inputs.cohorts, chosen.fitter, cal_end,
                                  obs_end, params.time_unit),
                         conditional_expectations(ch, ok, naive))


def holdout(inputs: ClvInputs, params: ClvParams, obs_end: pd.Timestamp,
            model: str | None = None) -> HoldoutResult:
    """Calibrate ``model`` (default: ``params.clv_model``; 'auto' means ``models.DEFAULT``) on the
    calibration period of ``inputs``, predict the purchases up to ``obs_end``."""
    model = model or (params.clv_model if params.clv_model != "auto" else DEFAULT)
    ch, status = calibration_frame(inputs, obs_end)
    if ch is None:
        return HoldoutResult(status, str(inputs.calibration_end.date()))
    spend, _ = fit_spend(ch["frequency_cal"], ch["monetary_value_cal"], params, [])
    s = score(model, ch, params, spend=spend)
    return holdout_result(inputs, ch, s, {model: s}, params, obs_end, spend)


def holdout_error(h: Mapping[str, Any] | None) -> float | None:
    """Relative error of the predicted total of holdout repeat purchases against what
    happened (a holdout entry of metrics.json, or a model's holdout scores); None when no
    holdout check ran or nothing happened in the holdout."""
    if not h or h.get("status", "ok") != "ok" or not h.get("actual"):
        return None
    return (h["predicted"] - h["actual"]) / h["actual"]
