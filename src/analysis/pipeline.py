"""Run-folder artifacts shared by the notebooks: reading, writing, and the transaction stage.

A notebook reads the previous stage's artifact from ``run_dir``; when it is absent
(an analyst opened notebook 03 on its own) the missing stages are computed from the
data file with the same package functions, so every notebook runs on its own.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from . import clean as clean_mod
from . import config, load, summary

CUSTOMER_COLUMNS = ["customer_id", "first_purchase", "last_purchase", "n_orders", "frequency",
                    "recency", "T", "monetary_value", "revenue", "abc_tier", "r_score",
                    "f_score", "m_score", "rfm_segment", "cluster", "lifecycle_stage",
                    "historical_clv", "p_alive", "expected_purchases", "predicted_clv",
                    "clv_tier", "recommended_action"]

CUSTOMERS = "customers.parquet"
TRANSACTIONS = "transactions_clean.parquet"
LEDGER = "cleaning_ledger.csv"
METRICS = "metrics.json"
STAGE1 = "stage1.json"


@contextmanager
def replacing(path: str | Path):
    """Write a file under a temporary name beside it, then rename it into place, so that a
    full disk or a signal never leaves a half-written file under its final name::

        with replacing(run / "customers.csv") as tmp:
            table.to_csv(tmp)
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def setup(params_path: str | None, overrides: Mapping[str, Any] | None, run_dir: str | Path
          ) -> dict[str, Any]:
    """Resolve parameters, create ``run_dir`` and set the figure style. First call of a notebook."""
    cfg = config.resolve(params_path, overrides or {})
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    from . import plots
    plots.set_style(cfg["language"])
    return cfg


def transaction_stage(data_path: str | Path, cfg: Mapping[str, Any],
                      warnings: list[str] | None = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Load, clean and summarise: (clean transactions, ledger, one row per customer).
    Warnings about usable-but-odd data are appended to ``warnings``. With ``engine`` duckdb
    or spark the same rules run on that engine (``engines.py``)."""
    if cfg.get("engine", "pandas") != "pandas":
        from . import engines
        return engines.transaction_stage(data_path, cfg, warnings)
    tx = load.load_transactions(data_path, cfg, warnings)
    clean, ledger = clean_mod.clean_transactions(tx, cfg, warnings)
    clean_mod.require_purchases(clean, ledger, str(data_path))
    customers = summary.customer_summary(clean, cfg)
    clean, customers = load.anonymize_stage1(clean, customers, cfg)
    return clean, ledger, customers


def stage1_metrics(clean: pd.DataFrame, ledger: pd.DataFrame, customers: pd.DataFrame,
                   cfg: Mapping[str, Any], warnings: list[str] | None = None
                   ) -> dict[str, Any]:
    steps = ledger.set_index("step")
    end = summary.observation_end(clean, cfg)
    start = pd.Timestamp(clean["date"].min()).normalize()
    return {
        "customers": int(len(customers)),
        "transactions": int(steps.at["kept", "rows"]),
        "revenue": float(steps.at["kept", "revenue"]),
        "currency": cfg["currency"],
        "period": {"start": start.date().isoformat(), "end": end.date().isoformat(),
                   "days": int((end - start).days) + 1, "time_unit": cfg["time_unit"]},
        "cleaning": {"input_rows": int(steps.at["input", "rows"]),
                     "input_revenue": float(steps.at["input", "revenue"]),
                     "dropped": {s: {"rows": int(r.rows), "revenue": float(r.revenue)}
                                 for s, r in steps.drop(index=["input", "kept"]).iterrows()},
                     "warnings": list(warnings or [])},
    }


def input_key(data_path: str | Path, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """What stage 1 was computed from: the file (path, size, modification time) and a digest
    of every parameter but the anonymisation salt (a digest that included it would let
    anyone holding the run folder confirm a guessed salt offline)."""
    def canon(v: Any) -> Any:  # 2 and 2.0 are the same parameter value
        if isinstance(v, dict):
            return {str(k): canon(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [canon(x) for x in v]
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v

    digest = hashlib.sha256(json.dumps(canon(config.public(cfg)), sort_keys=True, default=str)
                            .encode("utf-8")).hexdigest()
    return {**load.source_info(data_path), "params_sha256": digest}


def write_stage1(run_dir: str | Path, clean: pd.DataFrame, ledger: pd.DataFrame,
                 customers: pd.DataFrame, cfg: Mapping[str, Any],
                 data_path: str | Path | None = None, warnings: list[str] | None = None,
                 seconds: float | None = None) -> None:
    """Write stage 1's artifacts; with ``data_path``, also ``stage1.json`` (written last), which
    lets notebook 01 reuse them instead of loading the file again."""
    run = Path(run_dir)
    with replacing(run / TRANSACTIONS) as tmp:
        clean.to_parquet(tmp, index=False)
    with replacing(run / LEDGER) as tmp:
        clean_mod.ledger_table(ledger).to_csv(tmp, index=False)
    write_customers(run_dir, customers)
    update_metrics(run_dir, stage1_metrics(clean, ledger, customers, cfg, warnings))
    if data_path is not None:
        info = {**input_key(data_path, cfg), "warnings": list(warnings or []),
                "seconds": None if seconds is None else round(seconds, 2)}
        with replacing(run / STAGE1) as tmp:
            tmp.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n",
                           encoding="utf-8")


@dataclass
class Stage1:
    """Stage 1's result for a notebook: the frames, the warnings, and where they came from."""
    clean: pd.DataFrame
    ledger: pd.DataFrame
    customers: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    origin: str = ""
    seconds: float | None = None  # load + clean + summarise, when computed here


def read_ledger(run_dir: str | Path) -> pd.DataFrame:
    """``cleaning_ledger.csv`` with the integer ``cents`` column the checks use."""
    ledger = pd.read_csv(Path(run_dir) / LEDGER)
    ledger["cents"] = np.rint(ledger["revenue"].to_numpy() * 100).astype("int64")
    return ledger


def stage1(run_dir: str | Path, data_path: str | Path, cfg: Mapping[str, Any]) -> Stage1:
    """Load, clean and summarise, once per run.

    The runner computes stage 1 before the notebooks (to check the data before anything
    is written) and leaves it in the run folder with ``stage1.json``; when that record
    matches this data file and these parameters, the artifacts are read back instead of
    loading the file a second time (on 10 million rows that halves the stage's cost).
    Otherwise (a notebook opened on its own) the stage is computed and written."""
    run = Path(run_dir)
    record = run / STAGE1
    if record.exists():
        info = json.loads(record.read_text(encoding="utf-8"))
        key = input_key(data_path, cfg)
        if all(info.get(k) == v for k, v in key.items()):
            return Stage1(pd.read_parquet(run / TRANSACTIONS), read_ledger(run),
                          pd.read_parquet(run / CUSTOMERS), list(info.get("warnings", [])),
                          f"read from the run folder: the runner loaded, cleaned and "
                          f"summarised {_name(data_path)} in {info.get('seconds')} s "
                          f"(engine {cfg.get('engine', 'pandas')}) "
                          f"before the notebooks, to check the data")
    t0 = time.perf_counter()
    warnings: list[str] = []
    clean, ledger, customers = transaction_stage(data_path, cfg, warnings)
    seconds = time.perf_counter() - t0
    write_stage1(run_dir, clean, ledger, customers, cfg, data_path, warnings, seconds)
    return Stage1(clean, ledger, customers, warnings,
                  f"computed from {_name(data_path)} on {cfg.get('engine', 'pandas')} in "
                  f"{seconds:.1f} s", seconds)


def _name(data_path: str | Path) -> str:
    """A data location as shown in text: a file's or directory's name, or a URI."""
    return str(data_path) if load.is_uri(data_path) else Path(data_path).name


def read_transactions(run_dir: str | Path, data_path: str | Path, cfg: Mapping[str, Any]
                      ) -> pd.DataFrame:
    path = Path(run_dir) / TRANSACTIONS
    if not path.exists():
        return stage1(run_dir, data_path, cfg).clean
    return pd.read_parquet(path)


def read_customers(run_dir: str | Path, data_path: str | Path, cfg: Mapping[str, Any]
                   ) -> pd.DataFrame:
    """The customers table so far; computes stage 1 first when the run folder lacks it."""
    path = Path(run_dir) / CUSTOMERS
    if not path.exists():
        read_transactions(run_dir, data_path, cfg)
    return pd.read_parquet(path)


def order_columns(customers: pd.DataFrame) -> pd.DataFrame:
    """Contract columns first, in the design's order, then any extra columns: ``profit``
    (when costs are mapped) first among them, then the dimensions."""
    first = [c for c in CUSTOMER_COLUMNS if c in customers]
    first += [c for c in ("profit",) if c in customers]
    return customers[first + [c for c in customers if c not in first]]


def write_customers(run_dir: str | Path, customers: pd.DataFrame) -> None:
    with replacing(Path(run_dir) / CUSTOMERS) as tmp:
        order_columns(customers).to_parquet(tmp, index=False)


def add_columns(run_dir: str | Path, customers: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Add a stage's columns (indexed like ``customers``) and write the table back."""
    out = customers.drop(columns=[c for c in new.columns if c in customers]).join(new)
    write_customers(run_dir, out)
    return order_columns(out)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return None if math.isnan(f) or math.isinf(f) else round(f, 10)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (pd.Timestamp,)):
        return obj.date().isoformat()
    return obj


def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / METRICS
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def update_metrics(run_dir: str | Path, values: Mapping[str, Any]) -> dict[str, Any]:
    """Merge top-level keys into ``metrics.json`` (sorted keys, no timestamps: deterministic)."""
    metrics = read_metrics(run_dir)
    metrics.update(_jsonable(dict(values)))
    with replacing(Path(run_dir) / METRICS) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                       encoding="utf-8")
    return metrics


#: first characters that make a spreadsheet read a cell as a formula (OWASP CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(column: pd.Series) -> pd.Series:
    """A text column as a spreadsheet may open it: a cell starting with ``= + - @``, tab or
    carriage return gets a leading apostrophe, so that Excel, LibreOffice and Sheets show
    it as text instead of running it as a formula (OWASP's rule for CSV injection).
    Numbers, dates and missing cells are left alone."""
    if not (column.dtype == object or pd.api.types.is_string_dtype(column)):
        return column
    text = column.astype("str")
    risky = text.str.startswith(FORMULA_START).fillna(False).astype(bool)
    if not risky.any():
        return column
    return text.where(~risky, "'" + text)


def export_customers(run_dir: str | Path, customers: pd.DataFrame) -> pd.DataFrame:
    """Write the final customers table (Parquet as it is; CSV with formula-like text cells
    neutralised by :func:`spreadsheet_safe`), in the contract's column order."""
    table = order_columns(customers)
    write_customers(run_dir, table)
    with replacing(Path(run_dir) / "customers.csv") as tmp:
        table.apply(spreadsheet_safe).to_csv(tmp, index=False, date_format="%Y-%m-%d")
    return table
