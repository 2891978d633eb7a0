"""The notebooks for JupyterLab in another language (``make lab LANGUAGE=zh``): copies of
``notebooks/NN_*.ipynb`` whose Markdown is in that language (the run's own words,
``narrative/notebooks.<lang>.yaml``) and whose parameters cell asks for it, pointing at the
project's data and parameters from wherever the copies are written. The copies are for
reading and running; edits to the notebooks themselves belong in ``notebooks/``."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat

from .narrative.translate import translate_notebook
from .runner import NOTEBOOK_DIR

__all__ = ["NOTEBOOK_DIR", "PARAMETERS", "localised_notebooks"]

#: the parameters cell of a copy: {root} is the project folder as seen from the copies
PARAMETERS = '''# Parameters: papermill replaces this cell; the defaults run the bundled CDNOW data.
data_path = "{root}/data/raw/CDNOW_master.txt"
params_path = "{root}/params/cdnow.yaml"
overrides = {{"language": "{lang}"}}
run_dir = "{root}/outputs/notebook-scratch-{lang}"'''


def localised_notebooks(lang: str, out: str | Path, source: Path = NOTEBOOK_DIR) -> list[Path]:
    """Write the notebooks of ``source`` into ``out`` in ``lang``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(os.path.relpath(source.parent.resolve(), out.resolve())).as_posix()
    written = []
    for path in sorted(source.glob("[0-9][0-9]_*.ipynb")):
        nb = translate_notebook(nbformat.read(str(path), as_version=4), lang)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        cell.source = PARAMETERS.format(root=root, lang=lang)
        target = out / path.name
        nbformat.write(nb, str(target))
        written.append(target)
    return written
