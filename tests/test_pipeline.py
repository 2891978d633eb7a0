"""How notebooks run the stages (pipeline.py) and what they leave in the run folder
(runfolder.py): one setup call, stage 1 once per run, a stage's result saved whole."""
import json

import pandas as pd
import pytest

from analysis import config, pipeline, runfolder, tiers
from analysis.errors import InputError
from conftest import ROOT

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
    window = first.aggregates.window
    assert metrics["period"] == {"start": window.start.date().isoformat(),
                                 "end": window.end.date().isoformat(), "days": window.days,
                                 "time_unit": "week"}
    assert metrics["transactions"] == first.aggregates.transactions == \
        len(pd.read_parquet(run / runfolder.TRANSACTIONS))  # written by the engine


def test_a_notebook_opened_alone_computes_what_it_needs(tiny, tmp_path):
    """Notebook 03 in an empty folder: stage 1 runs, and the ABC tier the later stages read
    is computed from the parameters (what notebook 02 would have written)."""
    data, params = tiny
    nb = pipeline.setup(str(params), {}, tmp_path / "run", data)
    customers = nb.customers
    assert (tmp_path / "run" / runfolder.CUSTOMERS).exists()
    expected = tiers.tiers_from_params(customers, nb.params.tiers).astype(str)
    assert customers["abc_tier"].tolist() == expected.tolist()
    assert nb.window.end == nb.aggregates.last_date.normalize()


def test_save_writes_a_stage_result_whole(tiny, tmp_path):
    data, params = tiny
    nb = pipeline.setup(str(params), {}, tmp_path / "run", data)
    agg = nb.aggregates
    result = tiers.run(nb.customers, agg.halves, agg.split, nb.window, nb.params.tiers)
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
    pd.testing.assert_frame_equal(pandas[1], duck[1])
    assert pandas[0][["step", "rows", "revenue"]].equals(duck[0][["step", "rows", "revenue"]])
    pd.testing.assert_frame_equal(pandas[2].halves, duck[2].halves)


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
    from_clean = first.stage1().aggregates.window
    nb = pipeline.setup(str(params), {}, run, data)
    assert nb.window == from_clean and "aggregates" not in nb.__dict__
    # a window that the record cannot give (another observation_end) comes from the rows
    end = pipeline.setup(str(params), {"observation_end": "2021-12-31"}, run, data).window
    assert end.end == pd.Timestamp("2021-12-31") and end.start == from_clean.start


def test_with_the_clean_transactions_off_the_notebooks_need_neither_them_nor_the_data(
        tiny, tmp_path, monkeypatch):
    """Stage 1 hands on aggregates: with ``clean_transactions: off`` nothing of transaction
    level is in the folder, and a notebook after stage 1 gets everything it reads
    (customers, window, the aggregates) without running the transaction stage again."""
    data, params = tiny
    run = tmp_path / "run"
    off = {"clean_transactions": "off"}
    first = pipeline.setup(str(params), off, run, data).stage1()
    assert not (run / runfolder.TRANSACTIONS).exists()

    def no_rows(*args, **kwargs):
        raise AssertionError("the transactions were read again")
    monkeypatch.setattr(pipeline, "transaction_stage", no_rows)
    nb = pipeline.setup(str(params), off, run, data)
    agg = nb.aggregates
    assert nb.window == first.aggregates.window and len(nb.customers) == 6
    for name in ("monthly", "halves", "sample"):
        pd.testing.assert_frame_equal(getattr(agg, name), getattr(first.aggregates, name))
    pd.testing.assert_frame_equal(agg.clv.calibration, first.aggregates.clv.calibration)
    pd.testing.assert_series_equal(agg.clv.historical_clv, first.aggregates.clv.historical_clv)
    assert agg.transactions == int(first.ledger.set_index("step").at["kept", "rows"])
    assert agg.monthly["transactions"].sum() == agg.transactions


def test_clean_transactions_go_where_the_parameter_says(tiny, tmp_path):
    data, params = tiny
    target = tmp_path / "lake" / "clean.parquet"
    target.parent.mkdir()
    for engine in ("pandas", "duckdb"):
        run = tmp_path / engine
        stage = pipeline.setup(str(params), {"clean_transactions": str(target),
                                             "engine": engine}, run, data).stage1()
        assert not (run / runfolder.TRANSACTIONS).exists()
        rows = pd.read_parquet(target)
        assert len(rows) == stage.aggregates.transactions and "is_return" in rows
    uri = config.typed(config.resolve(params, {"clean_transactions": "s3a://lake/clean/"}))
    assert pipeline.clean_path(tmp_path, uri) == "s3a://lake/clean/"  # a URI stays whole


def _tiers(nb):
    agg = nb.aggregates
    return nb.save(tiers.run(nb.customers, agg.halves, agg.split, nb.window, nb.params.tiers))


def test_a_notebook_with_other_parameters_never_mixes_them_with_the_folders(tiny, tmp_path):
    """Issue 31, the time-unit case: notebook 04 with time_unit: week after 01-03 ran with
    days. Stage 1 is computed again for weeks (recency and T in weeks, as in an empty
    folder), what the folder held of days is set aside (metrics, tables, their record), and
    notebook 05 with the days refuses in one line naming the notebooks to run first."""
    data, params = tiny
    run = tmp_path / "run"
    days = pipeline.setup(str(params), {}, run, data)
    _tiers(days)
    assert days.done("tiers") and "abc" in runfolder.read_metrics(run)
    weeks = pipeline.setup(str(params), {"time_unit": "week"}, run, data)
    fresh = pipeline.setup(str(params), {"time_unit": "week"}, tmp_path / "empty", data)
    pd.testing.assert_frame_equal(weeks.customers.drop(columns="abc_tier"),
                                  fresh.customers.drop(columns="abc_tier"))
    assert weeks.stage1().origin.startswith("Stage 1 read")  # now the folder's own
    assert "abc" not in runfolder.read_metrics(run) and not weeks.done("tiers")
    assert list(runfolder.read_provenance(run)) == ["stage1"]
    again = pipeline.setup(str(params), {}, run, data)
    with pytest.raises(InputError, match=r"run 2. Value tiers \(Pareto / ABC\); 3. Behav"):
        again.require("tiers", "segments")


def test_a_notebook_on_another_file_segments_that_file(tiny, tmp_path):
    """The other-data case: notebook 03 pointed at another file after 01-02 ran on the
    first segments the other file's customers, never the first file's."""
    data, params = tiny
    other = tmp_path / "other.csv"
    other.write_text("\n".join(TINY.splitlines()[:5]) + "\n")
    run = tmp_path / "run"
    _tiers(pipeline.setup(str(params), {}, run, data))
    nb = pipeline.setup(str(params), {}, run, other)
    assert len(nb.customers) == pd.read_csv(other)["cid"].nunique() < 6
    assert not nb.done("tiers")  # the first file's tiers are not this file's


def test_rerunning_02_with_other_cuts_then_05_refuses(tiny, tmp_path):
    """The re-run case: 02 with other ABC cuts, then 05 with the parameter file's: 05 stops
    in one line (no traceback in a notebook) naming 02-04."""
    data, params = tiny
    run = tmp_path / "run"
    _tiers(pipeline.setup(str(params), {"abc_rank_cuts": [0.2, 0.5]}, run, data))
    nb = pipeline.setup(str(params), {}, run, data)
    with pytest.raises(InputError) as caught:
        nb.require("tiers", "segments", "clv")
    line, = caught.value._render_traceback_()
    assert line.startswith("error: this notebook needs results") and \
        "2. Value tiers (Pareto / ABC); 3. Behaviour segments and lifecycle; 4. Customer " \
        "lifetime value with them first" in line


def test_a_finished_run_is_never_changed_by_a_notebook(tiny, tmp_path):
    data, params = tiny
    run = tmp_path / "run"
    pipeline.setup(str(params), {}, run, data).stage1()
    (run / "manifest.json").write_text("{}")
    before = {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(InputError, match="finished run"):
        pipeline.setup(str(params), {"time_unit": "week"}, run, data).customers
    assert {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_notebooks_for_jupyterlab_in_chinese(tmp_path):
    """Issue 31: with language zh the notebooks' own Markdown stayed English in JupyterLab.
    ``python -m analysis notebooks --language zh`` (``make lab LANGUAGE=zh``) writes copies
    whose Markdown is Chinese and whose parameters ask for Chinese, with paths that reach
    the project's data from wherever the copies are."""
    import re

    import nbformat

    from analysis.__main__ import main
    out = tmp_path / "deep" / "zh"
    assert main(["notebooks", "--language", "zh", "--out", str(out)]) == 0
    books = sorted(out.glob("*.ipynb"))
    assert [p.name[:2] for p in books] == ["01", "02", "03", "04", "05"]
    for path in books:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert "parameters" in first.metadata["tags"]
        assert 'overrides = {"language": "zh"}' in first.source
        data = re.search(r'data_path = "([^"]+)"', first.source).group(1)
        assert (out / data).resolve() == (ROOT / "data" / "raw" / "CDNOW_master.txt")
        markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
        assert all(re.search(r"[\u4e00-\u9fff]", m) for m in markdown), path.name
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
