"""How notebooks run the stages (pipeline.py) and what they leave in the run folder
(runfolder.py): one setup call, stage 1 once per run, a stage's result saved whole."""
import json

import pandas as pd
import pytest

from analysis import config, pipeline, runfolder, tiers
from analysis.units import Window

TINY = ("cid,day,amt\n"
        + "".join(f"{c},2020-{m:02d}-1{c},{10 * c + m}.50\n" for c in range(1, 7)
                  for m in range(1, 1 + c % 4 + 1)))


@pytest.fixture
def tiny(tmp_path):
    data = tmp_path / "tx.csv"
    data.write_text(TINY)
    params = tmp_path / "p.yaml"
    params.write_text("columns: {customer_id: cid, date: day, amount: amt}\n")
    return data, params


def test_setup_gives_typed_parameters_and_the_run_folder(tiny, tmp_path):
    data, params = tiny
    nb = pipeline.setup(str(params), {"time_unit": "week"}, tmp_path / "run", data)
    assert (tmp_path / "run").is_dir() and nb.run_dir == tmp_path / "run"
    assert nb.params.summary.time_unit.name == "week" and nb.params.values["time_unit"] == "week"
    with pytest.raises(config.ParamError):
        pipeline.setup(str(params), {"seed": -1}, tmp_path / "run2", data)


def test_stage1_is_computed_once_and_read_back_while_its_record_matches(tiny, tmp_path):
    data, params = tiny
    run = tmp_path / "run"
    nb = pipeline.setup(str(params), {}, run, data)
    first = nb.stage1()
    assert first.origin.startswith("Stage 1 computed from tx.csv on pandas")
    record = json.loads((run / runfolder.STAGE1).read_text())
    assert record["params_sha256"] == pipeline.input_key(data, nb.params)["params_sha256"]
    again = pipeline.setup(str(params), {}, run, data).stage1()
    assert again.origin.startswith("Stage 1 read from the run folder")
    pd.testing.assert_frame_equal(again.customers, first.customers)
    assert again.ledger[["step", "rows", "revenue"]].equals(first.ledger[["step", "rows",
                                                                          "revenue"]])
    changed = pipeline.setup(str(params), {"time_unit": "week"}, run, data).stage1()
    assert changed.origin.startswith("Stage 1 computed")  # other parameters: not reused
    metrics = runfolder.read_metrics(run)
    window = Window.of(first.clean, None, nb.params.summary.time_unit)
    assert metrics["period"] == {"start": window.start.date().isoformat(),
                                 "end": window.end.date().isoformat(), "days": window.days,
                                 "time_unit": "week"}
    assert metrics["transactions"] == len(first.clean)


def test_a_notebook_opened_alone_computes_what_it_needs(tiny, tmp_path):
    """Notebook 03 in an empty folder: stage 1 runs, and the ABC tier the later stages read
    is computed from the parameters (what notebook 02 would have written)."""
    data, params = tiny
    nb = pipeline.setup(str(params), {}, tmp_path / "run", data)
    customers = nb.customers
    assert (tmp_path / "run" / runfolder.CUSTOMERS).exists()
    expected = tiers.tiers_from_params(customers, nb.params.tiers).astype(str)
    assert customers["abc_tier"].tolist() == expected.tolist()
    assert nb.window.end == pd.Timestamp(nb.clean["date"].max()).normalize()


def test_save_writes_a_stage_result_whole(tiny, tmp_path):
    data, params = tiny
    nb = pipeline.setup(str(params), {}, tmp_path / "run", data)
    result = tiers.run(nb.customers, nb.clean, nb.window, nb.params.tiers)
    saved = nb.save(result)
    back = pd.read_parquet(tmp_path / "run" / runfolder.CUSTOMERS)
    assert back["abc_tier"].tolist() == result.tiers.astype(str).tolist() == \
        saved["abc_tier"].tolist()
    assert list(back.columns[:2]) == ["customer_id", "first_purchase"]  # the contract's order
    metrics = runfolder.read_metrics(tmp_path / "run")
    assert metrics["abc"]["tiers"]["A"]["customers"] == int((back["abc_tier"] == "A").sum())
    assert metrics["pareto"]["customers"] == len(back)
    tables = runfolder.read_tables(tmp_path / "run")
    pd.testing.assert_frame_equal(tables["lorenz"], result.curve)


def test_transaction_stage_runs_on_the_engine_the_parameters_name(tiny):
    data, params = tiny
    p = config.typed(config.resolve(params))
    pandas = pipeline.transaction_stage(data, p)
    duck = pipeline.transaction_stage(data, p.replace(engine="duckdb"))
    pd.testing.assert_frame_equal(pandas[2], duck[2])
    assert pandas[1][["step", "rows", "revenue"]].equals(duck[1][["step", "rows", "revenue"]])


def test_writes_go_through_a_temporary_name(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with runfolder.replacing(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


def test_window_comes_from_stage1_record_without_reading_the_transactions(tiny, tmp_path):
    """Notebooks 03 and 05 need the window, not the transactions: once stage 1 is in the
    folder the window is read from metrics.json, and equals the one the transactions give."""
    data, params = tiny
    run = tmp_path / "run"
    first = pipeline.setup(str(params), {}, run, data)
    from_clean = Window.of(first.stage1().clean, None, first.params.summary.time_unit)
    nb = pipeline.setup(str(params), {}, run, data)
    assert nb.window == from_clean and "clean" not in nb.__dict__
    # a window that the record cannot give (another observation_end) comes from the rows
    end = pipeline.setup(str(params), {"observation_end": "2021-12-31"}, run, data).window
    assert end.end == pd.Timestamp("2021-12-31") and end.start == from_clean.start
