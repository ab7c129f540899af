"""Output folders: who may write into one, and what a new or resumed run clears.

:func:`claim_output_dir` refuses a folder that holds a run unless the run is to
overwrite it (then only what cellsim wrote is removed) or to resume it (then the case
must be the one it started with), and locks it against a second run;
:func:`release_output_dir` unlocks it. No DOLFINx, no collective call except in
:func:`claim_output_dir` (rank 0 decides, every rank raises alike).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

MANIFEST = "manifest.json"
CASE = "case.toml"
LOCK = ".cellsim.lock"
#: what cellsim writes inside fields/ (anything else there is a user's and is kept)
FIELD_GLOBS = ("*.pvd", "*.pvtu", "*.vtu", "*.xdmf", "*.h5", "*.pvsm")


def read_manifest(outdir) -> dict:
    """The manifest.json of an output folder (or the file itself) as a dict."""
    p = Path(outdir)
    with open(p / MANIFEST if p.is_dir() else p, encoding="utf-8") as fh:
        return json.load(fh)


def _remove_field_files(fields: Path) -> None:
    """Remove what cellsim wrote in fields/ (field files, region folders of field files)."""
    for pat in FIELD_GLOBS:
        for p in fields.glob(pat):
            if p.is_file() or p.is_symlink():
                p.unlink()
    for d in fields.iterdir():
        if d.is_dir() and not d.is_symlink():
            files = list(d.rglob("*"))
            if all(f.is_dir() or any(f.match(g) for g in FIELD_GLOBS) for f in files):
                shutil.rmtree(d)


def _truncate_csv(path: Path, rows: int, columns: list[str]) -> None:
    with open(path, newline="", encoding="utf-8") as fh:
        lines = fh.read().splitlines(keepends=True)
    header = lines[0].rstrip("\r\n").split(",") if lines else []
    if header != list(columns):
        raise ValueError(f"{path}: its columns are not those of this case (was the case changed?)")
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        fh.writelines(lines[: 1 + rows])
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def claim_output_dir(outdir, comm, overwrite: bool = False, resume: bool = False, case_toml: str = "") -> None:
    """Check that a run may write into ``outdir`` and lock it (collective; rank 0 decides).

    A folder that holds a run (manifest.json) is refused unless ``overwrite`` (then only what
    cellsim wrote is removed, when the run starts) or ``resume`` (then the case must be the
    one in case.toml). A lock file (``.cellsim.lock``: host and pid) keeps two runs out of
    one folder; a lock left by a killed run on this host is taken over. Raises
    :class:`OutputFolderError` on every rank.
    """
    import socket as _socket

    out = Path(outdir).resolve()
    error = None
    if comm.rank == 0:
        try:
            if out.exists() and not out.is_dir():
                raise OutputFolderError(f"{out} exists and is not a folder")
            holds_run = (out / MANIFEST).is_file()
            if resume:
                if not holds_run:
                    raise OutputFolderError(f"--resume {out}: no run there (no {MANIFEST})")
                old = (out / CASE).read_text(encoding="utf-8") if (out / CASE).is_file() else None
                if old is not None and case_toml and old != case_toml:
                    raise OutputFolderError(f"--resume {out}: the case differs from the one that run started with "
                                            f"({out / CASE}); resume it with that case")
            elif holds_run and not overwrite:
                st = read_manifest(out).get("status", "?")
                raise OutputFolderError(f"{out} holds a run (status {st}); give --overwrite to replace it (only "
                                        "the files cellsim wrote are removed), --resume to continue it, or "
                                        "another folder with -o")
            out.mkdir(parents=True, exist_ok=True)
            lock = out / LOCK
            me = f"{_socket.gethostname()} {os.getpid()}"
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                owner = lock.read_text(encoding="utf-8").split()
                host, pid = (owner + ["", ""])[:2]
                if host == _socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
                    lock.unlink()  # left by a run that was killed
                    fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                else:
                    raise OutputFolderError(f"{out} is in use by another cellsim run (lock {lock}: host {host}, "
                                            f"pid {pid}); if that run is gone, remove the lock file") from None
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(me + "\n")
        except OutputFolderError as exc:
            error = str(exc)
        except OSError as exc:
            error = f"cannot use output folder {out}: {type(exc).__name__}: {exc}"
    error = comm.bcast(error, root=0)
    if error is not None:
        raise OutputFolderError(error)


def release_output_dir(outdir, comm) -> None:
    """Remove the lock of ``outdir`` (rank 0; not collective)."""
    if comm.rank == 0:
        try:
            (Path(outdir).resolve() / LOCK).unlink()
        except OSError:
            pass


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie left by a killed job does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except OSError:
        pass
    return True


class OutputFolderError(ValueError):
    """The output folder cannot be used (holds a run, is locked, does not exist for --resume)."""
