"""Run folders on disk: reserved atomically, swept when their process died, the ``latest``
link moved only by a run that succeeded, and what a failed write left behind removed.

A run works in ``outputs/.<name>.partial`` and renames it to ``<name>`` when it ends (ok
or failed); the name is reserved by creating that work folder, which is atomic, so two
runs started in the same second never share a folder.
"""
from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

from .errors import InputError
from .runfolder import write_json

__all__ = ["LATEST", "final_of", "slug", "writable_dir", "sweep_stale", "point_latest",
           "reserve", "reserve_out", "settle_notebook", "sweep_temporaries"]

def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(outputs: Path) -> list[Path]:
    """Mark failed the ``.partial`` folders of runs whose process is gone (killed, power cut).

    Their manifest says "running" with the pid of a process that no longer exists; they
    become ``<name>`` with status "failed", so nothing half-written passes for a result."""
    swept = []
    for work in sorted(outputs.glob(".*.partial")):
        manifest_path = work / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        pid = manifest.get("pid")
        if manifest.get("status") != "running" or (pid and _pid_alive(int(pid))):
            continue
        manifest["status"] = "failed"
        manifest["error"] = "interrupted: the run's process ended before it finished"
        write_json(manifest_path, manifest)
        final = final_of(work)
        if not final.exists():
            os.replace(work, final)
            swept.append(final)
    return swept


def final_of(work: Path) -> Path:
    """The folder a run's ``.<name>.partial`` work folder becomes when the run ends."""
    name = work.name[1:-len(".partial")] if work.name.endswith(".partial") else work.name
    return work.parent / name


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "dataset"


def writable_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"the output directory cannot be written: {exc.strerror or exc}",
                         file=str(path), hint="Choose another --out or fix its permissions"
                         ) from None


LATEST = "latest"


def point_latest(outputs: Path, target: Path) -> str | None:
    """Point ``outputs/latest`` at ``target`` (a sibling folder), atomically: a new link under
    a unique name, renamed over the old one. Only a link this project made is replaced — a
    relative link to a sibling folder; a file, a folder or any other link named ``latest``
    is left alone, and the returned warning says so (None when the link moved)."""
    link = outputs / LATEST
    if link.is_symlink():
        if "/" in os.readlink(link):
            return (f"{link} was not moved: it is a link this project did not make "
                    f"(to {os.readlink(link)})")
    elif link.exists():
        return f"{link} was not moved: it is a {'folder' if link.is_dir() else 'file'}, " \
               f"not a link this project made"
    tmp = outputs / f".{LATEST}-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.symlink_to(target.name, target_is_directory=True)
    try:
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return None


def reserve(outputs: Path, dataset: str, stamp: str) -> tuple[Path, Path]:
    """(final folder, work folder) under a name no other run holds.

    The name is reserved by creating its ``.partial`` work folder, which is atomic: two runs
    started in the same second cannot both create it, so the second takes the next suffix
    (``-2``, ``-3`` …). A finished run's folder is never reused either."""
    for i in range(1, 10_000):
        name = f"{dataset}-{stamp}" + (f"-{i}" if i > 1 else "")
        final, work = outputs / name, outputs / f".{name}.partial"
        if final.exists() or final.is_symlink():
            continue
        try:
            work.mkdir()
        except FileExistsError:
            continue
        if final.exists():  # that run finished between the check and the mkdir
            work.rmdir()
            continue
        return final, work
    raise InputError("no free run-folder name", file=str(outputs))  # pragma: no cover


def reserve_out(final: Path) -> Path:
    """The work folder for ``--out DIR``, reserved atomically (another run may want DIR)."""
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise InputError("the output directory already exists and is not empty; a run "
                         "never overwrites another", file=str(final),
                         hint="Choose a new --out, or remove the old folder yourself")
    work = final.parent / f".{final.name}.partial"
    try:
        work.mkdir()
    except FileExistsError:
        raise InputError("another run is writing this output directory now (its .partial "
                         "folder exists)", file=str(final),
                         hint="Choose another --out, or wait for that run to end") from None
    return work


def settle_notebook(tmp: Path, out: Path) -> None:
    """papermill writes the executed notebook while it runs: under a temporary name, which
    becomes the final one only when the file is whole (a notebook that failed in a cell is
    kept, to show the error; one cut short by a full disk is removed)."""
    if not tmp.exists():
        return
    try:
        json.loads(tmp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tmp.unlink(missing_ok=True)
        return
    os.replace(tmp, out)


def sweep_temporaries(work: Path) -> None:
    """Remove the temporary files of writes that did not finish (they hold nothing final,
    and on a full disk removing them frees the room the manifest needs)."""
    for tmp in [*work.rglob(".*.tmp"), *work.rglob(".*.tmp.ipynb")]:
        try:
            tmp.unlink()
        except OSError:
            pass
