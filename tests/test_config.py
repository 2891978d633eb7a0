import pytest

import dataclasses

import pandas as pd

from analysis import config, schema
from analysis.errors import ParamError
from analysis.units import TimeUnit

BASE = {"columns": {"customer_id": "id", "date": "d", "amount": "a"}}


def test_defaults_fill_every_field():
    cfg = config.validate(BASE)
    assert set(cfg) == {f.name for f in schema.FIELDS}
    assert cfg["time_unit"] == "day" and cfg["seed"] == 42


def test_unknown_key_suggests_the_close_one():
    with pytest.raises(ParamError, match="unknown parameter 'time_unti'.*'time_unit'"):
        config.validate({**BASE, "time_unti": "week"})


@pytest.mark.parametrize("key,value,expected", [
    ("time_unit", "month", "one of"),
    ("seed", "abc", "whole number"),
    ("seed", -1, "0 or more"),
    ("abc_rank_cuts", [0.5, 0.2], "increasing"),
    ("observation_end", "30/06/1998", "YYYY-MM-DD"),
    ("drop_duplicates", "yes please", "true or false"),
    ("discount_rate", 3, "between"),
])
def test_bad_values_are_named(key, value, expected):
    with pytest.raises(ParamError, match=expected) as err:
        config.validate({**BASE, key: value})
    assert err.value.column == key


def test_columns_must_map_customer_date_and_amount():
    with pytest.raises(ParamError, match="customer_id is required"):
        config.validate({"columns": {"date": "d", "amount": "a"}})
    with pytest.raises(ParamError, match="quantity' and 'unit_price"):
        config.validate({"columns": {"customer_id": "c", "date": "d", "quantity": "q"}})
    with pytest.raises(ParamError, match="unknown canonical column"):
        config.validate({"columns": {**BASE["columns"], "colour": "x"}})


def test_overrides_are_yaml_values_and_dotted_keys_nest(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("columns: {customer_id: id, date: d, amount: a}\ntime_unit: day\n")
    overrides = dict(config.parse_override(s) for s in
                     ["time_unit=week", "abc_rank_cuts=[0.1, 0.3]", "columns.amount=total",
                      "seed=7"])
    cfg = config.resolve(p, overrides)
    assert cfg["time_unit"] == "week" and cfg["abc_rank_cuts"] == [0.1, 0.3]
    assert cfg["columns"] == {"customer_id": "id", "date": "d", "amount": "total"}
    assert cfg["seed"] == 7
    with pytest.raises(ParamError, match="unknown parameter 'nope'"):
        config.resolve(p, {"nope": 1})


def test_yaml_tags_are_refused_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.yaml"
    p.write_text(f"dataset: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ParamError, match="not valid safe YAML"):
        config.resolve(p)
    assert not marker.exists()


def test_parameter_file_problems(tmp_path):
    with pytest.raises(ParamError, match="not found"):
        config.resolve(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ParamError, match="mapping"):
        config.resolve(tmp_path / "list.yaml")


def test_shipped_parameter_files_are_valid():
    """Every file in params/ resolves, names only known keys, and maps the columns it needs;
    the data it was written for is read with it (the check command's load, clean and
    summarise) where that data ships with the project."""
    from conftest import ROOT
    files = sorted((ROOT / "params").glob("*.yaml"))
    assert len(files) >= 5
    for p in files:
        raw = config.read_yaml(p)
        assert set(raw) <= set(schema.FIELD_BY_NAME), (p.name, set(raw) - set(schema.FIELD_BY_NAME))
        cfg = config.resolve(p)
        assert {"customer_id", "date"} <= set(cfg["columns"]), p.name
        for key, value in raw.items():  # what the file says is what the run gets
            if key != "columns" and not isinstance(value, (list, dict)):
                assert cfg[key] == value or str(cfg[key]) == str(value), (p.name, key)
    shipped = {"cdnow.yaml": "data/raw/CDNOW_master.txt",
               "cdnow_sample.yaml": "data/raw/CDNOW_sample.txt",
               "online_retail.yaml": "tests/fixtures/online_retail_small.csv",
               "superstore.yaml": "tests/fixtures/superstore_small.csv"}
    from analysis import pipeline
    for name, data in shipped.items():
        params = config.typed(config.resolve(ROOT / "params" / name))
        ledger, customers, _agg = pipeline.transaction_stage(ROOT / data, params)
        assert len(customers) > 0 and ledger.set_index("step").at["kept", "rows"] > 0, name


def test_every_parameter_reaches_a_typed_group_with_its_type():
    """The typed groups are built from the one schema: each field of a group is a schema
    parameter (or the shared privacy settings), every parameter but the run's name reaches
    a group, and values arrive typed (dates as Timestamps, lists as tuples, one TimeUnit)."""
    params = config.typed({**BASE, "time_unit": "week", "observation_end": "1998-06-30",
                           "abc_rank_cuts": [0.1, 0.3], "dataset": "x"})
    reached = set()
    for name, cls in config.GROUPS.items():
        group = getattr(params, name)
        assert dataclasses.is_dataclass(group) and type(group) is cls
        for f in dataclasses.fields(cls):
            if f.name == "privacy":
                continue
            assert f.name in schema.FIELD_BY_NAME, (name, f.name)
            reached.add(f.name)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(group, dataclasses.fields(cls)[0].name, None)
    privacy = {f.name for f in dataclasses.fields(config.Privacy)}
    assert set(schema.FIELD_BY_NAME) - reached - privacy == set()
    assert params.clv.time_unit == params.summary.time_unit == TimeUnit("week")
    assert params.clv.time_unit.days == 7 and params.clv.time_unit.freq == "W"
    assert params.clean.observation_end == pd.Timestamp("1998-06-30")
    assert params.tiers.abc_rank_cuts == (0.1, 0.3)
    assert params.values["abc_rank_cuts"] == [0.1, 0.3]  # written out as given
    assert params.replace(seed=7).segments.seed == 7 and params.segments.seed == 42
    with pytest.raises(ParamError, match="seed"):
        params.replace(seed=-1)


def test_a_bad_value_is_echoed_as_written_and_named_as_the_notebooks_override(tmp_path):
    """Issue 31: `k_range: [1, 3]` was echoed as [1.0, 3.0], and an override in a notebook
    was reported against the parameter file."""
    from analysis import pipeline
    params = tmp_path / "p.yaml"
    params.write_text("columns: {customer_id: c, date: d, amount: a}\n")
    with pytest.raises(config.ParamError) as caught:
        pipeline.setup(str(params), {"k_range": [1, 3]}, tmp_path / "run", tmp_path / "x.csv")
    line, = caught.value._render_traceback_()
    assert "got [1, 3]" in line and "overrides (this notebook's parameters cell)" in line
    with pytest.raises(config.ParamError, match=r"file \S*p\.yaml, column .k_range."):
        params.write_text(params.read_text() + "k_range: [1, 3]\n")
        pipeline.setup(str(params), {}, tmp_path / "run", tmp_path / "x.csv")
