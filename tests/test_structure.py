"""The layers of the package, read from its import statements (issue 29): a stage imports
neither the run folder, the report, the narrative, the notebooks' facade nor a sibling
stage; the schema
imports no stage; the command line never loads the notebooks' facade. A new import across
a layer fails here."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "src" / "analysis"
#: the stages, by their top-level names in the package (k-means clusters are part of the
#: segments stage)
STAGE_OF = {"stage1": "stage1", "tiers": "tiers", "segments": "segments",
            "clusters": "segments", "clv": "clv"}
STAGES = set(STAGE_OF)
#: what no stage may import: the run folder and its files, the pages and their words
#: (a stage hands over numbers, statuses and messages by key), the notebooks' side
ABOVE_STAGES = {"runfolder", "folders", "report", "narrative", "pipeline", "stage1_cache",
                "runner", "kernel", "plots", "__main__"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Module (relative to ``analysis``) -> the package modules it imports."""
    modules = {_module(p) for p in PACKAGE.rglob("*.py")}
    out: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module(path)
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[:len(package) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                elif (node.module or "").startswith("analysis"):
                    target = node.module.removeprefix("analysis").lstrip(".")
                else:
                    continue
                for alias in node.names:  # `from . import plots` names a module
                    sub = f"{target}.{alias.name}".lstrip(".")
                    found.add(sub if sub in modules else target)
            elif isinstance(node, ast.Import):
                found |= {a.name.removeprefix("analysis").lstrip(".") for a in node.names
                          if a.name.startswith("analysis")}
        out[name] = {t for t in found if t}
    return out


def _top(module: str) -> str:
    return module.split(".")[0]


def test_stages_import_no_run_folder_report_or_sibling_stage():
    crossings = set()
    for module, targets in _imports().items():
        if _top(module) not in STAGES:
            continue
        for target in targets:
            top = _top(target)
            if top in ABOVE_STAGES or (top in STAGES and STAGE_OF[top] !=
                                       STAGE_OF[_top(module)]):
                crossings.add((module, target))
    assert crossings == set(), sorted(crossings)


def test_the_schema_and_the_parameters_import_no_stage():
    graph = _imports()
    for module in ("schema", "checks", "groups", "config", "units", "handoff", "ranking",
                   "messages", "metrics_schema"):
        assert not {t for t in graph[module] if _top(t) in STAGES | ABOVE_STAGES}, module


def test_the_model_layer_is_one_file_per_model_behind_the_registry():
    """Nothing outside ``clv/models`` names a model class but through the registry, and no
    module of the CLV stage branches on a model's key."""
    for path in (PACKAGE / "clv").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for key in ('"bgnbd"', '"mbgnbd"', '"paretonbd"', '"nbd"', '"gg"'):
            assert key not in text, (path.name, key)


@pytest.mark.parametrize("module", ["analysis.runner", "analysis.__main__"])
def test_the_command_line_does_not_load_the_notebooks_facade(module):
    """Nor IPython: only a notebook's kernel needs it."""
    code = (f"import sys, {module}; "
            f"sys.exit('analysis.pipeline' in sys.modules or 'IPython' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_the_languages_are_the_files_there_are():
    """A language is its files: the message catalog, the narrative's words and the
    notebooks' Markdown; the ``language`` parameter offers exactly those."""
    from analysis import messages, narrative, schema
    from analysis.narrative.translate import NOTEBOOK_TEXT
    assert set(messages.LANGUAGES) == set(narrative.LANGUAGES) == \
        set(schema.FIELD_BY_NAME["language"].choices)
    assert set(NOTEBOOK_TEXT) == set(narrative.LANGUAGES) - {"en"}  # English is the source
