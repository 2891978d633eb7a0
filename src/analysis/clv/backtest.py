"""Backtests: each model scored at several calibration ends (rolling origin), in purchases and
in money, and the range of the predicted total that includes the error they showed.

* **Origins** (``units.backtest_origins``): the run's calibration end with its holdout to
  the end of the window, then one a quarter earlier at a time (up to four), each with a
  holdout of the same length. The transaction stage hands over each origin's calibration
  frame (``ClvInputs.calibration`` and ``ClvInputs.backtests``).
* **Per origin and model** (``validation.score``): purchases and revenue predicted against
  what the calibration customers did in the holdout; the mean absolute error per customer
  (purchases and money); the naive rule's (each customer keeps buying at their calibration
  rate, at their own mean spend); the rank correlation of predicted and actual revenue;
  how well P(alive) at the origin separates those who bought again from those who did not
  (AUC: 0.5 is a coin, 1 perfect); predicted against actual revenue by decile of the
  prediction. Revenue is predicted with the spend model fitted on that origin's
  calibration period (``spend.fit_spend``), undiscounted, before margin.
* **Choice**: with ``clv_model: auto``, the sound model with the smallest root mean squared
  error per customer over the origins, in revenue (in purchases when an origin has no spend
  model): the models predict each customer's expected purchases, and the squared error is
  the score an expectation is best at (the absolute error favours forecasts below it, as a
  median is below the mean of skewed counts). ``compare.rank`` orders them.
* **Range with model error**: for the model used, each origin's ratio of actual to
  predicted revenue (purchases when no spend model could be fitted). The stated range of
  the predicted total is the parameter interval (bootstrap or normal approximation),
  its low end times the smallest ratio and its high end times the largest, 1 included in
  both: it is at least as wide as the backtests' spread of error. Its **coverage** is
  checked on the backtests themselves: each origin's actual revenue against its prediction
  widened by the other origins' ratios (leave one out).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from ..config import ClvParams
from ..handoff import ClvInputs
from ..messages import Message
from .models import fit_problem, get
from .spend import fit_spend

__all__ = ["DECILES", "Origin", "origins", "money_scores", "scorecard", "model_error",
           "stated_range", "criterion", "sensitivity", "backtests_entry"]

DECILES = 10


@dataclass
class Origin:
    """One backtest: its calibration end, holdout end, calibration frame, and the spend
    model of its calibration period (None, with why, when none could be fitted)."""
    calibration_end: pd.Timestamp
    holdout_end: pd.Timestamp
    frame: pd.DataFrame
    spend: Any = None
    spend_failure: Message | None = None


def origins(inputs: ClvInputs, main: pd.DataFrame | None, obs_end: pd.Timestamp,
            params: ClvParams) -> list[Origin]:
    """The backtests that can run: the run's holdout (``main``, the calibration frame when
    it passed its checks) and the earlier origins whose calibration period has repeat
    buyers enough to fit on; empty without the run's."""
    if main is None:
        return []
    hold = obs_end - inputs.calibration_end
    frames = [(inputs.calibration_end, main)]
    if inputs.backtests is not None and len(inputs.backtests):
        for origin, frame in inputs.backtests.groupby("origin", sort=False):
            frame = frame.drop(columns="origin").reset_index(drop=True)
            if fit_problem(frame["frequency_cal"]) is None:
                frames.append((pd.Timestamp(origin), frame))
    out = []
    for cal_end, frame in frames:
        spend, failure = fit_spend(frame["frequency_cal"], frame["monetary_value_cal"],
                                   params, [])
        out.append(Origin(cal_end, cal_end + hold, frame, spend, failure))
    return out


def money_scores(predicted: np.ndarray, p_alive: np.ndarray, frame: pd.DataFrame,
                 spend, naive: np.ndarray) -> dict[str, Any]:
    """Revenue predicted (``predicted`` purchases × the spend model's expected spend) and
    actual in the holdout, their mean absolute error per customer, the naive rule's, the
    rank correlation, the AUC of P(alive) and the deciles (module docstring). Without a
    spend model the money figures are None and the ranks and deciles use purchases."""
    x = frame["frequency_cal"].to_numpy(dtype="float64")
    m = frame["monetary_value_cal"].to_numpy(dtype="float64")
    bought = frame["frequency_holdout"].to_numpy(dtype="float64")
    out: dict[str, Any] = {"revenue_actual": None, "revenue_predicted": None,
                           "revenue_naive": None, "revenue_mae": None,
                           "naive_revenue_mae": None, "revenue_rmse": None}
    pred, actual = predicted, bought
    if spend is not None:
        actual = bought * frame["monetary_value_holdout"].to_numpy(dtype="float64")
        pred = predicted * spend.expected_spend(x, m)
        naive_money = naive * np.where(x > 0, m, 0.0)
        out.update(revenue_actual=float(actual.sum()), revenue_predicted=float(pred.sum()),
                   revenue_naive=float(naive_money.sum()),
                   revenue_mae=float(np.abs(pred - actual).mean()),
                   naive_revenue_mae=float(np.abs(naive_money - actual).mean()),
                   revenue_rmse=float(np.sqrt(((pred - actual) ** 2).mean())))
    varies = len(pred) > 2 and np.ptp(pred) > 0 and np.ptp(actual) > 0
    corr = spearmanr(pred, actual).statistic if varies else np.nan
    out["rank_corr"] = float(corr) if np.isfinite(corr) else None
    again = bought > 0
    out["auc"] = float(roc_auc_score(again, p_alive)) \
        if again.any() and not again.all() and np.isfinite(p_alive).all() else None
    order = np.argsort(pred, kind="stable")
    out["deciles"] = [[float(pred[part].mean()), float(actual[part].mean())]
                      for part in np.array_split(order, DECILES) if len(part)]
    return out


def scorecard(backtests: list[Origin], scores: list[Mapping[str, Any]]
              ) -> list[dict[str, Any]]:
    """One entry per origin: its dates, customers, spend model, and every model's scores."""
    out = []
    for origin, by_model in zip(backtests, scores):
        out.append({
            "calibration_end": str(origin.calibration_end.date()),
            "holdout_end": str(origin.holdout_end.date()),
            "customers": int(len(origin.frame)),
            "spend_model": None if origin.spend is None else origin.spend.name,
            "models": {get(m).name: _entry(s) for m, s in by_model.items()}})
    return out


_KEPT = ("actual", "predicted", "naive_predicted", "mae", "naive_mae", "rmse", "revenue_actual",
         "revenue_predicted", "revenue_naive", "revenue_mae", "naive_revenue_mae",
         "revenue_rmse", "rank_corr", "auc", "deciles", "p90_deciles", "p90_largest_gap",
         "next_order_error_days", "next_order_bias_days")


def _entry(score) -> dict[str, Any]:
    if score.status != "ok":
        return {"status": score.status}
    return {"status": score.status, **{k: score.metrics.get(k) for k in _KEPT}}


def model_error(card: list[Mapping[str, Any]], model: str) -> dict[str, Any] | None:
    """The model's error over the backtests: per origin the ratio of actual to predicted
    (revenue when every origin has it, else purchases), their relative errors and mean
    (the bias: negative means the model under-predicted); None without a backtest."""
    rows = [o["models"].get(get(model).name) for o in card]
    rows = [r for r in rows if r and r["status"] == "ok"]
    if not rows:
        return None
    money = all(r["revenue_predicted"] for r in rows)
    pred = [r["revenue_predicted"] if money else r["predicted"] for r in rows]
    actual = [r["revenue_actual"] if money else r["actual"] for r in rows]
    if not all(p > 0 for p in pred):
        return None
    errors = [(p - a) / a if a else None for p, a in zip(pred, actual)]
    known = [e for e in errors if e is not None]
    return {"basis": "revenue" if money else "purchases", "backtests": len(rows),
            "predicted": pred, "actual": actual, "errors": errors,
            "bias": float(np.mean(known)) if known else None,
            "ratios": [a / p for p, a in zip(pred, actual)]}


def stated_range(point: float, parameter: list[float] | None,
                 error: Mapping[str, Any] | None) -> dict[str, Any]:
    """The range of the predicted total that includes the model's backtest error, and its
    coverage over the backtests (module docstring)."""
    lo, hi = parameter if parameter else (point, point)
    if not error:
        return {"range": [lo, hi], "ratio_band": None, "coverage": None,
                "includes_model_error": False}
    ratios = error["ratios"]
    band = [min(1.0, *ratios), max(1.0, *ratios)]
    covered = None
    if len(ratios) > 1:  # leave one out: the others' band around each origin's prediction
        hits = 0
        for i, (p, a) in enumerate(zip(error["predicted"], error["actual"])):
            rest = ratios[:i] + ratios[i + 1:]
            hits += p * min(1.0, *rest) <= a <= p * max(1.0, *rest)
        covered = {"covered": hits, "of": len(ratios)}
    return {"range": [lo * band[0], hi * band[1]], "ratio_band": band, "coverage": covered,
            "includes_model_error": True}


def criterion(scores: list[Mapping[str, Any]]) -> str:
    """The error the choice compares (module docstring): ``revenue_rmse`` when every one of
    these scores has it, else ``rmse``."""
    return "revenue_rmse" if all(s.get("revenue_rmse") is not None for s in scores) \
        else "rmse"


def sensitivity(card: list[Mapping[str, Any]], sound: list[str],
                total_of: Callable[[str], float]) -> list[dict[str, Any]]:
    """How the answer moves with the calibration end: for each origin, the sound model with
    the smallest error per customer at that origin alone (:func:`criterion`), and the
    predicted total that model gives (``total_of``: by model key, the whole-window fit's;
    asked once per model)."""
    out, totals = [], {}
    for o in card:
        ok = [m for m in sound if o["models"].get(get(m).name, {}).get("status") == "ok"]
        key = criterion([o["models"][get(m).name] for m in ok])
        scored = [(o["models"][get(m).name][key], m) for m in ok]
        if not scored:
            continue
        best = min(scored)[1]
        if best not in totals:
            totals[best] = total_of(best)
        out.append({"calibration_end": o["calibration_end"], "model": get(best).name,
                    "predicted_clv_total": totals[best]})
    return out


def backtests_entry(card: list[Mapping[str, Any]], chosen: str, sound: list[str],
                    metrics: Mapping[str, Any], total_of: Callable[[str], float]
                    ) -> dict[str, Any] | None:
    """``backtests`` of metrics.json: the scorecard, the model's error over the origins, the
    range of the predicted total that includes it, and the total the model each origin
    alone would choose gives (``total_of``: a sound model's predicted total, by key; the
    chosen model's is the run's)."""
    if not card:
        return None
    error = model_error(card, chosen)
    total = metrics.get("predicted_clv_total")
    out: dict[str, Any] = {"origins": card, "error": error, "range": None,
                           "ratio_band": None, "coverage": None, "sensitivity": []}
    if total is None:
        return out
    out.update(stated_range(total, (metrics.get("intervals") or {}).get("total_predicted_clv"),
                            error))
    out["sensitivity"] = sensitivity(card, sound,
                                     lambda m: total if m == chosen else total_of(m))
    return out
