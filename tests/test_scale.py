"""The synthetic log of benchmarks/generate.py: exact size, reproducible, and the pipeline
recovers the BG/NBD parameters it was drawn from (not timed: timings are in benchmarks/)."""
import hashlib
import sys

import numpy as np
import pandas as pd
import pytest

from analysis import clv, config, pipeline
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from generate import TRUE, generate  # noqa: E402

PARAMS = ROOT / "params" / "synthetic.yaml"


@pytest.fixture(scope="module")
def log_200k(tmp_path_factory):
    path = tmp_path_factory.mktemp("scale") / "tx_200k.csv"
    generate(path, 200_000, 20_000, seed=11, block=7_000, echo=lambda m: None)
    return path


def test_generated_log_has_the_requested_rows_and_noise(log_200k):
    cfg = config.typed(config.resolve(PARAMS, {}))
    warnings = []
    ledger, customers, agg = pipeline.transaction_stage(log_200k, cfg, warnings)
    steps = ledger.set_index("step")["rows"]
    assert steps["input"] == 200_000
    assert steps["missing_customer_id"] == pytest.approx(0.03 * 200_000, abs=3)
    assert steps["cancellations"] == pytest.approx(0.02 * 200_000, abs=3)
    assert steps["kept"] == 200_000 - steps.drop(["input", "kept"]).sum()
    assert len(customers) == 20_000  # every customer bought at least once
    assert set(customers["Country"]) <= {"United Kingdom", "Germany", "France", "Spain",
                                         "Netherlands", "Belgium", "Switzerland", "Portugal",
                                         "Australia", "Norway"}


def test_pipeline_recovers_the_bgnbd_parameters(log_200k):
    cfg = config.typed(config.resolve(PARAMS, {}))
    _, customers, _ = pipeline.transaction_stage(log_200k, cfg)
    fit = clv.fit_weighted("bgnbd", customers["frequency"], customers["recency"],
                           customers["T"])
    est = clv.params_of(fit)
    # 20,000 customers: each estimate within 15 % of the truth (sampling error is ~5 %)
    for k in ("r", "alpha", "a", "b"):
        assert est[k] == pytest.approx(TRUE[k], rel=0.15), (k, est[k], TRUE[k])


def test_generation_is_reproducible_and_streams_in_blocks(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    generate(a, 30_000, 3_000, seed=5, block=1_000, echo=lambda m: None)
    generate(b, 30_000, 3_000, seed=5, block=1_000, echo=lambda m: None)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    pq = tmp_path / "a.parquet"
    generate(pq, 30_000, 3_000, seed=5, block=1_000, echo=lambda m: None)
    from_csv = pd.read_csv(a, dtype=str, keep_default_na=False)
    from_pq = pd.read_parquet(pq)
    assert len(from_csv) == len(from_pq) == 30_000
    assert (from_csv["InvoiceNo"].to_numpy() == from_pq["InvoiceNo"].to_numpy()).all()
    assert np.allclose(from_csv["UnitPrice"].astype(float), from_pq["UnitPrice"])
