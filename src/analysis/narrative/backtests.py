"""The backtests in words and in a table (notebook 04 and the report read the same
``clv.backtests`` entry of metrics.json): the scorecard per origin and model, the model's
error in money, the range that includes it with its coverage, and how the answer moves with
the calibration end."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..messages import join
from ..units import money
from .labels import s

__all__ = ["scorecard_table", "backtest_text", "sensitivity_text", "independence_text",
           "OUTLOOK_COLUMNS", "outlook_table", "p90_calibration", "timing_text", "schedule_table",
           "story_text"]


def scorecard_table(backtests: Mapping[str, Any] | None, currency: str, lang: str = "en"
                    ) -> pd.DataFrame:
    """One row per origin and model: purchases and revenue predicted against actual, the
    errors per customer against the naive rule's, the rank correlation and the AUC."""
    rows = []
    for o in (backtests or {}).get("origins") or []:
        for model, sc in o["models"].items():
            status = sc["status"].render(lang) if hasattr(sc["status"], "render") \
                else str(sc["status"])
            if sc["status"] != "ok":
                rows.append({"calibration end": o["calibration_end"], "model": model,
                             "status": status})
                continue
            rev = sc.get("revenue_predicted")
            rows.append({
                "calibration end": o["calibration_end"], "model": model, "status": status,
                "purchases predicted": sc["predicted"], "purchases actual": sc["actual"],
                "purchases error": _rel(sc["predicted"], sc["actual"]),
                f"revenue predicted ({currency})": rev,
                f"revenue actual ({currency})": sc.get("revenue_actual"),
                "revenue error": _rel(rev, sc.get("revenue_actual")),
                f"revenue MAE per customer ({currency})": sc.get("revenue_mae"),
                f"naive rule's revenue MAE ({currency})": sc.get("naive_revenue_mae"),
                "rank correlation": sc.get("rank_corr"),
                "P(alive) AUC": sc.get("auc")})
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).set_index(["calibration end", "model"])


def _rel(pred: float | None, actual: float | None) -> float | None:
    return (pred - actual) / actual if pred is not None and actual else None


def backtest_text(clv: Mapping[str, Any], currency: str, lang: str = "en") -> str:
    """The range of the predicted total that includes the backtests' error, the errors per
    origin, their mean (the bias) and the coverage; what there is to say without them."""
    b = clv.get("backtests") or {}
    err = b.get("error")
    total = clv.get("predicted_clv_total")
    if not err or total is None or not b.get("range"):
        return s("bt_none", lang) if total is not None else ""
    lo, hi = b["range"]
    ends = [o["calibration_end"] for o in b["origins"]]
    errors = join([f"{e:+.0%}" for e in err["errors"] if e is not None], lang)
    has_ci = bool((clv.get("intervals") or {}).get("total_predicted_clv"))
    text = s("bt_range" if has_ci else "bt_range_point", lang, lo=money(lo, currency, lang), hi=money(hi, currency, lang),
             n=err["backtests"], basis=s(f"bt_basis_{err['basis']}", lang))
    text += s("bt_errors", lang, n=err["backtests"], ends=join(ends, lang), errors=errors,
              basis=s(f"bt_basis_{err['basis']}", lang), bias=err["bias"] or 0.0,
              direction=s("bt_under" if (err["bias"] or 0) < 0 else "bt_over", lang))
    cov = b.get("coverage")
    text += s("bt_coverage", lang, covered=cov["covered"], of=cov["of"]) if cov \
        else s("bt_no_coverage", lang)
    return text


def sensitivity_text(clv: Mapping[str, Any], currency: str, lang: str = "en") -> str:
    """What each calibration end alone would have chosen, and the total that gives."""
    rows = (clv.get("backtests") or {}).get("sensitivity") or []
    if len(rows) < 2:
        return ""
    items = [s("bt_sensitivity_item", lang, end=r["calibration_end"], model=r["model"],
               value=money(r["predicted_clv_total"], currency, lang)) for r in rows]
    return s("bt_sensitivity", lang, items=join(items, lang), model=clv["model"],
             value=money(clv["predicted_clv_total"], currency, lang))


def independence_text(clv: Mapping[str, Any], lang: str = "en") -> str:
    """The spend model used and, for Gamma-Gamma, its independence check in figures."""
    spend = clv.get("spend_model") or {}
    corr = clv.get("frequency_monetary_corr")
    out = ""
    if spend.get("model") == "Gamma-Gamma" and corr is not None:
        out = s("bt_independence", lang, corr=corr)
    elif spend.get("model"):
        out = s("bt_shrunk", lang)
    return out


#: what notebook 04 shows of each customer's outlook
OUTLOOK_COLUMNS = ["customer_id", "predicted_clv", "p_alive", "p_purchase_30d", "p_purchase_90d",
                   "churn_risk", "next_order_date", "avg_days_between_purchases",
                   "expected_spend"]


def outlook_table(customers: pd.DataFrame, columns: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` customers of highest predicted CLV with their outlook (the CLV stage's
    ``columns`` beside the customers table's ids)."""
    frame = columns.assign(customer_id=customers["customer_id"].to_numpy())
    top = frame.sort_values(["predicted_clv", "customer_id"], ascending=[False, True]).head(n)
    return top[[c for c in OUTLOOK_COLUMNS if c in top]].set_index("customer_id")


def p90_calibration(backtests: Mapping[str, Any] | None, model: str) -> pd.DataFrame:
    """The 90-day purchase probability by decile of the prediction, predicted against the
    share who bought within 90 days, per backtest origin of ``model``."""
    cols = {}
    for o in (backtests or {}).get("origins") or []:
        sc = o["models"].get(model) or {}
        if sc.get("p90_deciles"):
            pred, seen = zip(*sc["p90_deciles"])
            cols[(o["calibration_end"], "predicted")] = pred
            cols[(o["calibration_end"], "observed")] = seen
    if not cols:
        return pd.DataFrame()
    out = pd.DataFrame(cols)
    out.index = pd.RangeIndex(1, len(out) + 1, name="decile")
    return out


def timing_text(clv: Mapping[str, Any], lang: str = "en") -> str:
    """How the 90-day probability and the next-order date did on the backtests."""
    model = clv.get("model")
    rows = [o["models"].get(model) or {} for o in (clv.get("backtests") or {}).get("origins")
            or []]
    gaps = [r["p90_largest_gap"] for r in rows if r.get("p90_largest_gap") is not None]
    errs = [r["next_order_error_days"] for r in rows if r.get("next_order_error_days") is not None]
    bias = [r["next_order_bias_days"] for r in rows if r.get("next_order_bias_days") is not None]
    text = s("bt_p90", lang, n=len(gaps), gap=max(gaps)) if gaps else ""
    if errs:
        text += s("bt_next_order", lang, n=len(errs), err=float(np.median(errs)),
                  bias=float(np.median(bias)))
    return text


def schedule_table(clv: Mapping[str, Any], currency: str) -> pd.DataFrame:
    """The value schedule's totals per month of the horizon."""
    sched = clv.get("schedule") or {}
    if not sched.get("month"):
        return pd.DataFrame()
    return pd.DataFrame({"expected purchases": sched["expected_purchases"],
                         f"expected value ({currency})": sched["expected_value"]},
                        index=pd.Index(sched["month"], name="month"))


def story_text(customer: str, history: pd.DataFrame, lang: str = "en") -> str:
    """One customer's story in words (``clv.alive_history``): their purchase days, the
    last, and the P(alive) the model gives them now."""
    bought = history.loc[history["purchase"], "date"]
    return s("nb_story", lang, customer=customer, days=int(len(bought)),
             last=str(bought.max().date()), p=float(history["p_alive"].iloc[-1]))
