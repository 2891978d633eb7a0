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
    from conftest import CDNOW_PARAMS, RETAIL_PARAMS
    for p in (CDNOW_PARAMS, RETAIL_PARAMS):
        config.resolve(p)
