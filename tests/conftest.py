from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis import clv, config
from analysis.stage1 import aggregates, summary
from analysis.units import Window

ROOT = Path(__file__).resolve().parents[1]
CDNOW = ROOT / "data" / "raw" / "CDNOW_master.txt"
CDNOW_PARAMS = ROOT / "params" / "cdnow.yaml"
RETAIL = ROOT / "tests" / "fixtures" / "online_retail_small.csv"
RETAIL_PARAMS = ROOT / "params" / "online_retail.yaml"


@pytest.fixture(scope="session")
def cdnow_params():
    return config.typed(config.resolve(CDNOW_PARAMS))


@pytest.fixture(scope="session")
def retail_params():
    return config.typed(config.resolve(RETAIL_PARAMS))


def run_cli(*args: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, as a user runs it."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


SALT = "pepper-7f3a9c"
RETAIL_RUN_ARGS = ["-p", "language=zh", "-p", "anonymize=true", "-p", f"anonymize_salt={SALT}"]


@pytest.fixture(scope="session")
def retail_data(tmp_path_factory):
    """The retail fixture with unmistakable customer ids (CUST12346X), so that a test can
    grep every output for them; returns (path, raw ids)."""
    import pandas as pd
    raw = pd.read_csv(RETAIL, dtype=str, keep_default_na=False)
    raw["CustomerID"] = raw["CustomerID"].map(lambda v: f"CUST{v}X" if v else "")
    data = tmp_path_factory.mktemp("retail") / "retail_ids.csv"
    raw.to_csv(data, index=False)
    return data, set(raw.loc[raw["CustomerID"] != "", "CustomerID"])


@pytest.fixture(scope="session")
def retail_run(tmp_path_factory, retail_data):
    """One full CLI run on the retail fixture — anonymised, in Chinese — shared by the
    end-to-end, report and determinism checks."""
    out = tmp_path_factory.mktemp("runs") / "retail"
    proc = run_cli("run", str(retail_data[0]), "--params", str(RETAIL_PARAMS), "--out",
                   str(out), *RETAIL_RUN_ARGS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


@pytest.fixture(scope="session")
def cdnow_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cdnow"
    proc = run_cli("run", str(CDNOW), "--params", str(CDNOW_PARAMS), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


@pytest.fixture(scope="session")
def cdnow_zh_run(tmp_path_factory):
    """The default CDNOW run with language: zh (the browser tests read both languages)."""
    out = tmp_path_factory.mktemp("runs") / "cdnow-zh"
    proc = run_cli("run", str(CDNOW), "--params", str(CDNOW_PARAMS), "--out", str(out),
                   "-p", "language=zh")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def run_clv(tx: pd.DataFrame, **params):
    """The CLV stage on a transaction log (customer_id, date, amount; weeks, no bootstrap
    unless ``params`` say otherwise), as notebook 04 runs it: (result, customers, window)."""
    cfg = config.typed({"columns": {"customer_id": "c", "date": "d", "amount": "a"},
                        "time_unit": "week", "clv_bootstrap": 0, **params})
    tx = tx.assign(is_return=False)
    customers = summary.customer_summary(tx, cfg.summary)
    window = Window(tx["date"].min().normalize(), tx["date"].max().normalize(),
                    cfg.clv.time_unit)
    inputs = aggregates.clv_inputs(tx, cfg.clv, window, customers["customer_id"])
    return clv.run(inputs, customers, window, cfg.clv), customers, window


def _java_found() -> bool:
    import shutil
    return shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME"))


def pytest_collection_modifyitems(config, items):
    """Spark tests need Java: without it they are skipped with a reason that says so (and
    .ci/run prints it before the tests start)."""
    if _java_found():
        return
    skip = pytest.mark.skip(reason="spark: no Java found (install it with `make java`)")
    for item in items:
        if "spark" in item.keywords:
            item.add_marker(skip)


#: the labels two customers with the same history must share (issue 30): those of the
#: purchase days and revenue alone, and, with the number of orders (F) and the mean value of
#: the repeat days (Gamma-Gamma's input) too, every label
DAY_LABELS = ["abc_tier", "r_score", "m_score", "lifecycle_stage", "p_alive"]
EQUAL_LABELS = DAY_LABELS + ["f_score", "rfm_segment", "cluster", "predicted_clv", "clv_tier",
                             "recommended_action", "at_risk", "value_at_risk"]


def assert_state_is_the_table(out: Path) -> pd.DataFrame:
    """What a run's page and metrics say of its customers is what customers.csv holds:
    every named filter of ``metrics.json`` (``state.filters``) selects exactly its count,
    revenue and actions from the table; customers with the same (frequency, recency, T,
    revenue) share every label of those values, and with the same orders and mean repeat
    value too, every label; at_risk.csv is the at-risk filter's rows with the most
    value at risk, each with its own action. Returns the table."""
    import json

    import numpy as np
    c = pd.read_csv(out / "customers.csv", dtype={"customer_id": str})
    filters = json.loads((out / "metrics.json").read_text())["state"]["filters"]
    assert {"key_lapsing", "key_active", "slipping", "churned", "at_risk"} <= set(filters)
    for name, f in filters.items():
        rows = c.query(f["filter"])
        assert len(rows) == f["customers"], name
        assert rows["revenue"].sum() == pytest.approx(f["revenue"], abs=0.011), name
        assert rows["recommended_action"].value_counts().to_dict() == f["actions"], name
    key = ["frequency", "recency", "T", "revenue"]
    spread = c.groupby(key)[[col for col in DAY_LABELS if col in c]].nunique()
    assert (spread <= 1).all().all(), spread[(spread > 1).any(axis=1)].head()
    spread = c.groupby(key + ["n_orders", "monetary_value"])[
        [col for col in EQUAL_LABELS if col in c]].nunique()
    assert (spread <= 1).all().all(), spread[(spread > 1).any(axis=1)].head()
    risk = pd.read_csv(out / "at_risk.csv", dtype={"customer_id": str})
    group = c.query(filters["at_risk"]["filter"]).set_index("customer_id")
    assert len(risk) == min(100, len(group)) and set(risk["customer_id"]) <= set(group.index)
    if group["value_at_risk"].notna().any():
        rest = group.drop(index=risk["customer_id"])["value_at_risk"]
        assert risk["value_at_risk"].is_monotonic_decreasing
        assert len(rest) == 0 or risk["value_at_risk"].min() >= rest.max() - 1e-9
    assert (risk["recommended_action"].to_numpy()
            == group.loc[risk["customer_id"], "recommended_action"].to_numpy()).all()
    assert np.isfinite(c["value_at_risk"].dropna()).all()
    return c


PG_DIR = Path(os.environ.get("PG_DIR", Path(os.environ.get("TMPDIR", "/tmp")) /
                             "analysis-postgres"))


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A real PostgreSQL server: the one `make postgres` started (its URL and password in
    PG_DIR), else a throwaway one started here with the same script, stopped afterwards;
    skipped, with the reason, where PostgreSQL is not installed. Returns (URL, password)."""
    script = ROOT / ".ci" / "postgres"
    started = None
    if not (PG_DIR / "url").exists():
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        import tempfile  # (a folder the server's own user can reach: not pytest's)
        started = dict(os.environ, PG_DIR=tempfile.mkdtemp(prefix="analysis-pg-"),
                       PG_PORT=str(port))
        proc = subprocess.run(["bash", str(script), "start"], env=started, capture_output=True,
                              text=True, timeout=300)
        if proc.returncode != 0:
            pytest.skip(f"postgres: no server could be started ({proc.stderr.strip()[-200:]}); "
                        f"run `make postgres`")
    where = Path(started["PG_DIR"]) if started else PG_DIR
    yield (where / "url").read_text().strip(), (where / "password").read_text().strip()
    if started:
        subprocess.run(["bash", str(script), "stop"], env=started, capture_output=True,
                       timeout=120)
