"""Units every stage shares, defined once: cents, day numbers, customer codes, purchase rows,
the time unit and the observation window.

* Money is summed in integer **cents** (amounts are rounded to the cent at load), so
  ledgers, shares and totals never drift with floating-point error.
* Dates are compared as **day numbers** (days since 1970-01-01, int64).
* Group-bys run on integer **customer codes** (``pd.factorize`` of the ids, sorted), not on
  text, which is what keeps 10 million rows to seconds.
* :class:`TimeUnit` is the one encoding of ``time_unit`` (its name, its length in days and
  the frequency letter lifetimes uses); :class:`Window` the one observation window
  (first day, last day, unit), computed once from the clean transactions.
* :class:`CustomerOrder` places per-customer results at the customers table's rows by
  Arrow's hash lookup of the ids (the engines' aggregates, the needs stage's shares).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["horizon_column", "horizon_months", "cents", "day_numbers", "day_number",
           "to_dates", "customer_codes", "purchase_rows", "days_since_last", "usual_gap_days",
           "money", "monthly_rate",
           "default_calibration_end", "BACKTEST_STEP_DAYS", "BACKTESTS", "backtest_origins",
           "TimeUnit", "Window", "CustomerOrder"]


def cents(amount: pd.Series | np.ndarray) -> np.ndarray:
    """Amounts as integer cents (amounts are rounded to the cent at load)."""
    return np.rint(np.asarray(amount, dtype="float64") * 100).astype("int64")


def day_numbers(dates: pd.Series) -> np.ndarray:
    """Calendar day of each timestamp as an integer (days since 1970-01-01)."""
    return dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype("int64")


def day_number(when) -> int:
    """Calendar day of one timestamp as an integer (days since 1970-01-01)."""
    return int(np.datetime64(pd.Timestamp(when).normalize(), "D").astype("int64"))


def to_dates(days: np.ndarray) -> pd.Series:
    """Day numbers back to ``datetime64[ns]`` midnights."""
    return pd.Series(np.asarray(days).astype("datetime64[D]").astype("datetime64[ns]"))


def customer_codes(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(code of each row, sorted unique ids); rows without an id have code -1."""
    codes, uniques = pd.factorize(ids, sort=True)
    return codes.astype("int64"), np.asarray(uniques, dtype=object)


def purchase_rows(clean: pd.DataFrame, codes: np.ndarray) -> np.ndarray:
    """Purchase rows (not returns) of known customers (rows without an id have code -1)."""
    buy = ~clean["is_return"].to_numpy(dtype=bool) if "is_return" in clean \
        else np.ones(len(clean), dtype=bool)
    return buy & (codes >= 0)


def days_since_last(customers: pd.DataFrame, end: pd.Timestamp) -> np.ndarray:
    """Whole days from each customer's last purchase to the end of the window."""
    return (pd.Timestamp(end).normalize() - customers["last_purchase"]).dt.days.to_numpy()


def usual_gap_days(customers: pd.DataFrame, unit_days: int) -> np.ndarray:
    """Each customer's own mean gap between purchase days, in days (first to last purchase
    over the repeat purchase days); NaN for a one-time buyer, who has none."""
    f = customers["frequency"].to_numpy(dtype="float64")
    gap = customers["recency"].to_numpy(dtype="float64") * unit_days / np.where(f > 0, f, 1.0)
    return np.where(f > 0, gap, np.nan)


def money(x: float | None, currency: str, lang: str = "en") -> str:
    """An amount as a headline shows it: whole units with thousands separators; in Chinese,
    from 10,000 up, in 万 (ten thousands) or 亿 (hundred millions), as Chinese readers count;
    — if none."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "—"
    if lang == "zh" and abs(x) >= 1e8:
        return f"{x / 1e8:,.2f} 亿 {currency}"
    if lang == "zh" and abs(x) >= 1e4:
        return f"{x / 1e4:,.1f} 万 {currency}"
    return f"{x:,.0f} {currency}"


def monthly_rate(annual: float) -> float:
    """The monthly discount rate equivalent to an annual one."""
    return (1 + annual) ** (1 / 12) - 1


def default_calibration_end(start: pd.Timestamp, end: pd.Timestamp) -> pd.Timestamp:
    """The day that leaves the last 40 % of the window as holdout."""
    days = (end - start).days
    return (start + pd.Timedelta(days=math.floor(0.6 * days))).normalize()


#: the backtests step back from the calibration end by a quarter
BACKTEST_STEP_DAYS = 91
#: at most this many backtests: the run's holdout and up to three earlier ones
BACKTESTS = 4


def backtest_origins(start: pd.Timestamp, end: pd.Timestamp, cal_end: pd.Timestamp
                     ) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The backtests' (calibration end, holdout end), rolling origin: the run's calibration
    end with its holdout to the end of the window, then one every quarter earlier with a
    holdout of the same length, while the calibration period before it stays at least a
    quarter as long as that holdout (and four weeks). Empty when ``cal_end`` leaves no holdout."""
    if cal_end >= end:
        return []
    hold = end - cal_end
    out = []
    for k in range(BACKTESTS):
        origin = cal_end - pd.Timedelta(days=BACKTEST_STEP_DAYS * k)
        if k and origin - start < max(hold / 4, pd.Timedelta(days=28)):
            break
        out.append((origin, origin + hold))
    return out


@dataclass(frozen=True)
class TimeUnit:
    """The unit of recency and T: ``day`` or ``week`` (7 days)."""
    name: str

    def __post_init__(self):
        if self.name not in ("day", "week"):
            raise ValueError(f"time unit must be 'day' or 'week', not {self.name!r}")

    @property
    def days(self) -> int:
        return 7 if self.name == "week" else 1

    @property
    def freq(self) -> str:
        """The frequency letter of lifetimes' helpers and ``customer_lifetime_value``."""
        return "W" if self.name == "week" else "D"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Window:
    """The observation window: first day, last day (T is measured to it) and time unit."""
    start: pd.Timestamp
    end: pd.Timestamp
    unit: TimeUnit

    @classmethod
    def of(cls, clean: pd.DataFrame, observation_end: pd.Timestamp | None,
           unit: TimeUnit) -> Window:
        """From the clean transactions: the first date, and ``observation_end`` or else the
        last date (both as midnights)."""
        start = pd.Timestamp(clean["date"].min()).normalize()
        end = pd.Timestamp(observation_end) if observation_end is not None \
            else pd.Timestamp(clean["date"].max()).normalize()
        return cls(start, end, unit)

    @classmethod
    def from_period(cls, period: Mapping[str, Any]) -> Window:
        """From stage 1's record of it (``period`` in metrics.json)."""
        return cls(pd.Timestamp(period["start"]), pd.Timestamp(period["end"]),
                   TimeUnit(period["time_unit"]))

    @property
    def days(self) -> int:
        """Calendar days in the window, both ends included."""
        return int((self.end - self.start).days) + 1


def horizon_column(months: int) -> str:
    """The column of predicted CLV over ``months`` (other than the headline horizon's,
    ``predicted_clv``)."""
    return f"predicted_clv_{months}m"


def horizon_months(column: str) -> int | None:
    """The horizon of a :func:`horizon_column`, in months (None for any other column)."""
    hit = re.fullmatch(r"predicted_clv_(\d+)m", column)
    return int(hit.group(1)) if hit else None


class CustomerOrder:
    """The customers table's ids (sorted, as the summary writes them), to place
    per-customer results by, on every engine: Arrow's hash lookup of the ids, never Python
    strings (on 10 million ids pandas' ``get_indexer`` took 31 s and 2.6 GiB)."""

    def __init__(self, ids: pd.Series):
        self.ids = ids
        self.values = pa.array(ids.array)
        if isinstance(self.values, pa.ChunkedArray):
            self.values = self.values.combine_chunks()

    def positions(self, ids) -> np.ndarray:
        """Each of ``ids``' position in the customers table (-1 where it lacks the id)."""
        if not isinstance(ids, (pa.Array, pa.ChunkedArray)):
            ids = pa.array(ids, type=pa.string())
        at = pc.index_in(ids.cast(pa.string()), value_set=self.values)
        return at.fill_null(-1).to_numpy().astype("int64")

    def place(self, ids, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """``values`` (one per id of ``ids``) at their customers' places, ``fill`` where a
        customer has none."""
        at = self.positions(ids)
        out = np.full(len(self.ids), fill)
        out[at[at >= 0]] = values[at >= 0]
        return out

    def index(self, at: np.ndarray | None = None) -> pd.Index:
        """The ids (those at positions ``at``) as a customer_id index."""
        ids = self.ids.array if at is None else self.ids.array.take(at)
        return pd.Index(ids, name="customer_id")
