"""Repository hygiene: notebooks, packaging, README."""
import json
import re
import tomllib

import yaml

from analysis import config, runner
from conftest import ROOT


def test_notebooks_are_stripped_and_start_with_parameters():
    paths = runner.notebook_paths()
    assert [p.stem[:2] for p in paths] == ["01", "02", "03", "04", "05"]
    for p in paths:
        nb = json.loads(p.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert "parameters" in code[0]["metadata"].get("tags", []), p.name
        for c in code:
            assert not c.get("outputs") and c.get("execution_count") is None, p.name
        src = "".join(code[0]["source"])
        for name in ("data_path", "params_path", "overrides", "run_dir"):
            assert re.search(rf"^{name} = ", src, re.M), (p.name, name)


def _names(specs):
    return {re.split(r"[<>=!~ ;\[]", s, 1)[0].strip().lower() for s in specs}


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_specs = project["dependencies"] + project["optional-dependencies"]["test"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    conda_names = _names(conda) - {"python", "pip"}
    assert conda_names == _names(pip_specs)
    # same version constraints too
    norm = lambda specs: {s.replace(" ", "").lower() for s in specs}
    assert norm(c for c in conda if _names([c]) - {"python", "pip"}) == norm(pip_specs)


def test_readme_opens_with_the_two_commands_and_documents_every_parameter():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", text, re.S).group(1)
    assert first_block.split() == ["make", "report", "make", "test"] or \
        first_block.strip().splitlines()[:2] == ["make report", "make test"]
    for field in config.FIELDS:
        assert f"`{field.name}`" in text, field.name
    assert config.reference_markdown() in text, "README parameter reference is out of date"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
