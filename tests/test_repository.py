"""Repository hygiene: notebooks, packaging, README, the shape of the package."""
import ast
import json
import re
import tomllib

import yaml

from analysis import runner, schema
from conftest import ROOT

PACKAGE = ROOT / "src" / "analysis"
MAX_MODULE_LINES = 400


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
    for field in schema.FIELDS:
        assert f"`{field.name}`" in text, field.name
    assert schema.reference_markdown() in text, "README parameter reference is out of date"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_modules_are_small_declare_their_api_and_import_at_the_top():
    """No module over 400 lines; every module says what it offers (``__all__``); an import
    inside a function is there for a reason written beside it (a heavy or optional library
    that only one path needs), never to hide a dependency on the package itself."""
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) <= MAX_MODULE_LINES, (name, len(lines))
        tree = ast.parse("\n".join(lines))
        if path.name != "__main__.py":
            assert any(isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "__all__"
                                                         for t in n.targets)
                       for n in tree.body), f"{name} has no __all__"
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    i = node.lineno - 1  # a comment on the line, or above its block of imports
                    while i > 0 and lines[i - 1].strip().startswith(("from ", "import ")):
                        i -= 1
                    assert "#" in lines[node.lineno - 1] or lines[i - 1].strip().startswith("#"), \
                        f"{name}:{node.lineno} imports inside a function without a reason"


def test_every_notebook_cell_is_valid_python():
    """A notebook edit that breaks a cell fails here in a second, not in every run's
    notebook minutes later."""
    import ast
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code":
                ast.parse("".join(cell["source"]), filename=f"{path.name} cell {i}")
