"""What changed since a previous run (``previous_run``): who moved, whether its forecast came
true, and what its campaigns did against their control groups.

The previous run is a finished run folder of the same dataset on data that ended earlier.
Its customers are joined to this run's by id (hashed ids join when both runs hashed with the
same salt; a run with no id in common is refused: another dataset or another salt).

* **Movement**: for the customers in both, tier, segment and lifecycle transition counts;
  the customers new since, newly at risk, recovered (dormant or churned then, bought since)
  and newly churned.
* **The previous forecast against what happened** (a live backtest): the previous run's
  model, rebuilt from its estimates, gives each of its customers' expected repeat purchase
  days over the time elapsed since its end (E[X(t) | x, tₓ, T]); times their expected spend,
  the revenue. What happened: their repeat purchase days since (this run's frequency minus
  the previous one) and their revenue since (this run's revenue minus the previous).
* **Uplift per campaign**: among each previous campaign list, the contacted customers
  against the control group held out: the share who bought since, and revenue since per
  customer, with the difference and its 90 % interval (normal approximation; Welch's for
  the revenue).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .clv.models import by_name
from .errors import InputError
from .runfolder import CAMPAIGNS, CUSTOMERS, METRICS, read_frame

__all__ = ["Z90", "check_previous", "check_against", "changes", "transition_tables",
           "uplift_table"]

Z90 = 1.6449
_MOVES = ("abc_tier", "rfm_segment", "lifecycle_stage")


def check_previous(path: str | Path | None, dataset: str) -> Path | None:
    """The previous run's folder, checked before anything is written: a finished run
    (status ok) of the same dataset, with its customers and metrics."""
    if not path:
        return None
    folder = Path(path)
    manifest = folder / "manifest.json"
    if not manifest.is_file() or not (folder / CUSTOMERS).is_file() \
            or not (folder / METRICS).is_file():
        raise InputError(f"previous_run {str(path)!r} is not a run folder (no manifest.json, "
                         f"customers.parquet and metrics.json)", column="previous_run",
                         hint="Give the folder of an earlier run, e.g. outputs/<dataset>-<time>")
    info = json.loads(manifest.read_text(encoding="utf-8"))
    if info.get("status") != "ok":
        raise InputError(f"previous_run {str(path)!r} is a run that did not finish "
                         f"(status {info.get('status')!r})", column="previous_run")
    if info.get("dataset") != dataset:
        raise InputError(f"previous_run {str(path)!r} is of dataset {info.get('dataset')!r}, "
                         f"this run of {dataset!r}", column="previous_run",
                         hint="Compare runs of one dataset (the dataset parameter names it)")
    return folder


def check_against(folder: Path, end: pd.Timestamp, ids: pd.Series) -> None:
    """After the transaction stage: the previous run ended before this one's data does,
    and shares customers with it (else another dataset, or ids hashed with another salt)."""
    prev = json.loads((folder / METRICS).read_text(encoding="utf-8"))
    prev_end = pd.Timestamp(prev["period"]["end"])
    if prev_end >= end:
        raise InputError(f"previous_run ends on {prev_end:%Y-%m-%d}, not before this run's "
                         f"data ({end:%Y-%m-%d})", column="previous_run")
    before = pd.read_parquet(folder / CUSTOMERS, columns=["customer_id"])["customer_id"]
    if not before.astype(str).isin(set(ids.astype(str))).any():
        raise InputError("previous_run has no customer id in common with this run: another "
                         "dataset, or ids hashed with another salt", column="previous_run")


def _transitions(both: pd.DataFrame, col: str) -> dict[str, dict[str, int]]:
    table = pd.crosstab(both[f"{col}_before"].astype(str), both[col].astype(str))
    return {a: {b: int(n) for b, n in row.items() if n} for a, row in table.iterrows()}


def _forecast(prev_metrics: dict, before: pd.DataFrame, both: pd.DataFrame,
              days: float) -> dict[str, Any] | None:
    clv = prev_metrics.get("clv") or {}
    if not clv.get("params") or clv.get("model") is None:
        return None
    model = by_name(clv["model"]).from_params([clv["params"][k] for k in
                                               by_name(clv["model"]).param_names])
    unit = 7 if prev_metrics["period"]["time_unit"] == "week" else 1
    x, tx, T = (both[f"{c}_before"].to_numpy(dtype="float64")
                for c in ("frequency", "recency", "T"))
    with np.errstate(all="ignore"):
        expected = np.nan_to_num(np.asarray(model.expected_fn(x, tx, T)(days / unit),
                                            dtype="float64"))
    spend = both["expected_spend_before"].to_numpy(dtype="float64") \
        if "expected_spend_before" in both else np.full(len(both), np.nan)
    actual_days = both["frequency"].to_numpy(dtype="float64") - x
    actual_revenue = both["revenue"].to_numpy(dtype="float64") \
        - both["revenue_before"].to_numpy(dtype="float64")
    pred_rev = float(np.nansum(expected * spend)) if np.isfinite(spend).any() else None
    return {"model": clv["model"], "days": float(days), "customers": int(len(both)),
            "predicted_purchases": float(expected.sum()),
            "actual_purchases": float(actual_days.sum()),
            "predicted_revenue": pred_rev, "actual_revenue": float(actual_revenue.sum())}


def _uplift(folder: Path, current: pd.DataFrame, prev_end: pd.Timestamp
            ) -> dict[str, Any]:
    out = {}
    now = current.set_index(current["customer_id"].astype(str))
    for path in sorted((folder / CAMPAIGNS).glob("*.csv")):
        lst = pd.read_csv(path, dtype={"customer_id": str},
                          usecols=["customer_id", "control", "revenue"])
        lst = lst[lst["customer_id"].isin(now.index)]
        here = now.loc[lst["customer_id"]]
        bought = (pd.to_datetime(here["last_purchase"]) > prev_end).to_numpy()
        revenue = here["revenue"].to_numpy(dtype="float64") - lst["revenue"].to_numpy("float64")
        ctrl = lst["control"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
        if not ctrl.any() or ctrl.all():
            continue
        p1, p0 = bought[~ctrl].mean(), bought[ctrl].mean()
        n1, n0 = int((~ctrl).sum()), int(ctrl.sum())
        se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
        r1, r0 = revenue[~ctrl], revenue[ctrl]
        rse = np.sqrt(r1.var(ddof=1) / n1 + r0.var(ddof=1) / n0) if min(n1, n0) > 1 else np.nan
        diff, rdiff = p1 - p0, r1.mean() - r0.mean()
        out[path.stem] = {
            "contacted": n1, "control": n0, "bought_contacted": float(p1),
            "bought_control": float(p0), "difference": float(diff),
            "interval": [float(diff - Z90 * se), float(diff + Z90 * se)],
            "revenue_contacted": float(r1.mean()), "revenue_control": float(r0.mean()),
            "revenue_difference": float(rdiff),
            "revenue_interval": [float(rdiff - Z90 * rse), float(rdiff + Z90 * rse)]
            if np.isfinite(rse) else None}
    return out


def changes(folder: Path, current: pd.DataFrame, end: pd.Timestamp) -> dict[str, Any]:
    """``changes`` of metrics.json (module docstring)."""
    prev_metrics = json.loads((folder / METRICS).read_text(encoding="utf-8"))
    prev_end = pd.Timestamp(prev_metrics["period"]["end"])
    before = read_frame(folder / CUSTOMERS)
    before = before.assign(customer_id=before["customer_id"].astype(str))
    cur = current.assign(customer_id=current["customer_id"].astype(str))
    keep = [c for c in ("customer_id", "frequency", "recency", "T", "revenue", "at_risk",
                        "expected_spend", *_MOVES) if c in before]
    both = cur.merge(before[keep], on="customer_id", suffixes=("", "_before"))
    both = both.rename(columns={c: f"{c}_before" for c in keep
                                if c != "customer_id" and f"{c}_before" not in both})
    lapsed = both["lifecycle_stage_before"].astype(str).isin(["dormant", "churned"]) \
        if "lifecycle_stage_before" in both else pd.Series(False, index=both.index)
    bought_since = pd.to_datetime(both["last_purchase"]) > prev_end
    out: dict[str, Any] = {
        "since": str(prev_end.date()), "until": str(pd.Timestamp(end).date()),
        "customers_before": int(len(before)), "customers_both": int(len(both)),
        "new": int((~cur["customer_id"].isin(before["customer_id"])).sum()),
        "recovered": int((lapsed & bought_since).sum()),
        "newly_churned": int(((both["lifecycle_stage"].astype(str) == "churned")
                              & (both["lifecycle_stage_before"].astype(str) != "churned"))
                             .sum()) if "lifecycle_stage_before" in both else None,
        "newly_at_risk": int((both["at_risk"].astype(bool)
                              & ~both["at_risk_before"].astype(bool)).sum())
        if "at_risk_before" in both and "at_risk" in both else None,
        "transitions": {c: _transitions(both, c) for c in _MOVES
                        if c in both and f"{c}_before" in both},
        "forecast": _forecast(prev_metrics, before, both,
                              float((pd.Timestamp(end) - prev_end).days)),
        "uplift": _uplift(folder, cur, prev_end)}
    return out


def transition_tables(ch: dict[str, Any] | None) -> dict[str, pd.DataFrame]:
    """The movement between the two runs as tables (rows: then, columns: now), by label."""
    out = {}
    for col, moves in ((ch or {}).get("transitions") or {}).items():
        plain = {then: {now: int(n) for now, n in row.items()} for then, row in moves.items()}
        table = pd.DataFrame(plain).T.fillna(0).astype("int64")
        table.index.name, table.columns.name = f"{col} then", f"{col} now"
        out[col] = table.sort_index().sort_index(axis=1)
    return out


def uplift_table(ch: dict[str, Any] | None) -> pd.DataFrame:
    """Each previous campaign: contacted against control, the difference and its interval."""
    rows = {str(a): {"contacted": u["contacted"], "control": u["control"],
                "bought again (contacted)": u["bought_contacted"],
                "bought again (control)": u["bought_control"],
                "difference (points)": 100 * u["difference"],
                "90 % interval, low": 100 * u["interval"][0],
                "90 % interval, high": 100 * u["interval"][1],
                "revenue since per customer (difference)": u["revenue_difference"]}
            for a, u in ((ch or {}).get("uplift") or {}).items()}
    return pd.DataFrame(rows).T.rename_axis("campaign") if rows else pd.DataFrame()
