"""Run folders on disk: reserved atomically, swept when their process died, the ``latest``
link moved only by a run that succeeded, and what a failed write left behind removed.

A run works in ``outputs/.<name>.partial`` and renames it to ``<name>`` when it ends (ok
or failed); the name is reserved by creating that work folder, which is atomic, so two
runs started in the same second never share a folder.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import platform
import re
import secrets
import shutil
import time
from pathlib import Path

from .errors import InputError
from .runfolder import write_json

__all__ = ["LATEST", "LOCK", "RunLock", "boot_identity", "run_is_live", "final_of", "slug",
           "writable_dir", "sweep_stale", "point_latest", "reserve", "reserve_out",
           "PublishError", "publish", "settle_notebook", "sweep_temporaries",
           "EXPORT_MARKER", "check_export_target", "mark_export"]

#: the file in a ``.partial`` work folder that its run holds an advisory lock on for its
#: whole life: the kernel drops the lock when the process ends, however it ends, and the
#: lock is seen from every PID namespace (container) that shares the folder
LOCK = ".run.lock"
#: a ``.partial`` folder with no lock file (a run of an older version, or one that has only
#: just created it) is taken for dead only when it is older than this
UNLOCKED_GRACE_SECONDS = 300


def boot_identity() -> dict[str, str | None]:
    """Host name and boot id: a pid means something only on the host and boot it came from."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = None
    return {"host": platform.node() or None, "boot_id": boot}


class RunLock:
    """The advisory lock (``flock``) a run holds on ``<work>/.run.lock`` while it runs."""

    def __init__(self, work: Path):
        self.path = work / LOCK
        # read-only: flock needs no write access, and an fd open for writing would keep
        # the file system from going read-only (or being unmounted) under the run
        self.fd = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self.fd)
            self.fd = None
            if exc.errno not in _NO_LOCKS:
                raise
            # a file system without locks (some network or FUSE mounts): no lock file, so
            # a sweep judges this folder by its pid on this host and boot, or its age
            self.path.unlink(missing_ok=True)

    def release(self, folder: Path | None = None) -> None:
        """Drop the lock; remove the lock file from ``folder`` (where the work folder went)."""
        if self.fd is None:
            return
        if folder is not None:
            try:
                (folder / LOCK).unlink()
            except OSError:
                pass
        os.close(self.fd)
        self.fd = None


def _held(work: Path) -> bool | None:
    """Whether a live run holds ``work``'s lock; None when the folder has no lock file."""
    try:
        fd = os.open(work / LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError:
        return True  # cannot tell: never take a folder that may be live
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return None if exc.errno in _NO_LOCKS else True
    finally:
        os.close(fd)  # closing drops the lock this probe took
    return False


#: what flock says on a file system that has no locks
_NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_manifest(work: Path) -> dict | None:
    try:
        manifest = json.loads((work / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def run_is_live(work: Path) -> bool:
    """Whether the run that owns the ``.partial`` folder ``work`` may still be running.

    By its lock: held means live, free means its process ended. A folder without a lock
    file is judged by its recorded pid only on the same host and boot, else by its age."""
    held = _held(work)
    if held is not None:
        return held
    manifest = _read_manifest(work) or {}
    pid = manifest.get("pid")
    if pid and manifest.get("boot_id") and manifest.get("boot_id") == boot_identity()["boot_id"]:
        try:
            return _pid_alive(int(pid))
        except (TypeError, ValueError):
            pass
    try:
        age = time.time() - work.stat().st_mtime
    except OSError:
        return False
    return age < UNLOCKED_GRACE_SECONDS


def sweep_stale(outputs: Path) -> list[Path]:
    """Mark failed the ``.partial`` folders of runs whose process is gone (killed, power cut).

    A run holds a lock in its folder while it runs (:class:`RunLock`); a folder whose lock is
    free becomes ``<name>`` with status "failed", so nothing half-written passes for a
    result. A manifest that cannot be read is replaced by one that says so; a folder that
    cannot be marked or moved (read-only, its final name taken) is left as it is."""
    swept = []
    for work in sorted(outputs.glob(".*.partial")):
        if not work.is_dir() or run_is_live(work):
            continue
        manifest = _read_manifest(work)
        if manifest is None:
            manifest = {"status": "failed", "error": "interrupted: the run's process ended "
                        "before it finished, and its manifest.json could not be read"}
        elif manifest.get("status") in (None, "running"):
            manifest["status"] = "failed"
            manifest["error"] = "interrupted: the run's process ended before it finished"
        final = final_of(work)
        try:
            write_json(work / "manifest.json", manifest)
            if not final.exists() and not final.is_symlink():
                os.replace(work, final)
                (final / LOCK).unlink(missing_ok=True)
                swept.append(final)
        except OSError:
            continue
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
    work = final.parent / f".{final.name}.partial"
    if final.exists() and (not final.is_dir() or any(final.iterdir())) and \
            not work.is_dir():
        raise InputError("the output directory already exists and is not empty; a run "
                         "never overwrites another", file=str(final),
                         hint="Choose a new --out, or remove the old folder yourself")
    try:
        work.mkdir()
    except FileExistsError:
        if run_is_live(work):
            raise InputError("another run is writing this output directory now (its "
                             ".partial folder exists)", file=str(final),
                             hint="Choose another --out, or wait for that run to end"
                             ) from None
        raise InputError(f"a run that ended left its work folder {work.name} here, which "
                         f"could not be moved to this name", file=str(final),
                         hint="Look at it, then remove it yourself, or choose another --out"
                         ) from None
    return work


class PublishError(OSError):
    """The finished run could not be given its final name (the reason in one line)."""


def publish(work: Path, final: Path) -> Path:
    """Give the finished work folder its final name and return it.

    A rename where it can; where ``final`` is a mount point or an existing empty folder
    (a container's volume), the results are moved inside it instead, entry by entry; where
    it gained files of someone else's meanwhile, nothing of theirs is replaced: the run
    stays in its work folder and :class:`PublishError` says why."""
    try:
        os.replace(work, final)
        return final
    except FileNotFoundError:
        if not work.exists():
            raise PublishError(f"the run folder {work} disappeared before the run ended"
                               ) from None
        raise
    except OSError as exc:
        if not final.is_dir() or final.is_symlink():
            raise
        taken = sorted(p.name for p in final.iterdir()) if final.exists() else []
        clash = [n for n in taken if (work / n).exists()]
        if clash:
            raise PublishError(f"{final} gained files during the run ({', '.join(clash[:3])}"
                               f"); the results stay in {work.name}") from exc
        # a mount point is another file system: entries are copied across where a rename
        # cannot go (shutil.move), the manifest last, so the folder is whole once it is there
        for entry in sorted(work.iterdir()):
            if entry.name not in ("manifest.json", LOCK):
                shutil.move(str(entry), str(final / entry.name))
        shutil.move(str(work / "manifest.json"), str(final / "manifest.json"))
        shutil.rmtree(work, ignore_errors=True)  # its lock file (held until the run ends)
        return final


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


#: beside an export target the run wrote (a file ``x.parquet``: ``.x.parquet.analysis``;
#: a directory: inside it), the marker that lets a later run replace it
EXPORT_MARKER = ".analysis-export"


def _marker(target: Path) -> Path:
    if target.is_dir():
        return target / EXPORT_MARKER
    return target.with_name(f".{target.name}{EXPORT_MARKER}")


def check_export_target(target: Path, data: str | Path, run_dir: Path) -> Path:
    """``target`` resolved, when a run may write an export there (``clean_transactions``
    set to a path); else :class:`InputError`, before anything is written.

    Never the input (nor a directory that holds it, nor a file inside an input directory),
    never inside another run's folder (one with a ``manifest.json`` or a ``.partial`` name,
    also reached through ``latest``); a target that exists is replaced only when a run
    made it (its marker is there), so a file of the user's is never overwritten."""
    where = Path(target).expanduser().resolve()
    hint = "Set clean_transactions to 'run' (the run folder) or to a new path of your own"
    source = Path(data).resolve()

    def refuse(problem: str) -> InputError:
        return InputError(problem, file=str(target), column="clean_transactions", hint=hint)

    if where == source or source.is_relative_to(where) or (
            source.is_dir() and where.is_relative_to(source)):
        raise refuse("clean_transactions points at the input data (or a folder that holds "
                     "it); the raw data is only ever read")
    own = Path(run_dir).resolve()
    for folder in where.parents:  # ``latest/x`` resolves into the run folder it names
        if folder != own and ((folder / "manifest.json").is_file() or
                              folder.name.endswith(".partial")):
            raise refuse("clean_transactions points into another run's folder (through "
                         "'latest', or by its name), whose results it would replace")
    if own.is_relative_to(where):
        raise refuse("clean_transactions points at a folder that holds this run's folder")
    if where.exists() or where.is_symlink():
        if where.is_symlink() or not _marker(where).exists():
            raise refuse("clean_transactions names a "
                         f"{'folder' if where.is_dir() else 'file'} that exists and that no "
                         f"run wrote (it has no {EXPORT_MARKER} marker); it is never "
                         f"replaced")
    if not where.parent.is_dir():
        raise refuse("the folder of clean_transactions does not exist")
    return where


def mark_export(target: Path, run_name: str) -> None:
    """Leave the marker that says a run wrote ``target`` (so the next run may replace it)."""
    write_json(_marker(Path(target)), {"written_by": "python -m analysis", "run": run_name})
