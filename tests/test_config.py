import pytest

from analysis import config
from analysis.errors import ParamError

BASE = {"columns": {"customer_id": "id", "date": "d", "amount": "a"}}


def test_defaults_fill_every_field():
    cfg = config.validate(BASE)
    assert set(cfg) == {f.name for f in config.FIELDS}
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
        assert set(raw) <= set(config.FIELD_BY_NAME), (p.name, set(raw) - set(config.FIELD_BY_NAME))
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
        _clean, ledger, customers = pipeline.transaction_stage(ROOT / data,
                                                               config.resolve(ROOT / "params" / name))
        assert len(customers) > 0 and ledger.set_index("step").at["kept", "rows"] > 0, name
