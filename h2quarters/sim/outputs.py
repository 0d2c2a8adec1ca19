"""Write a run's output files all together or not at all.

A run that fails half-way must not leave a ``timeseries.csv`` beside an old (or missing) ``kpis.json``.
:func:`check_output_dir` is called before the (long) run so that an unusable ``--out`` is reported at once;
:func:`write_all_or_none` writes every file under a temporary name in the same directory and renames them into
place only when all were written, restoring the previous files if a rename fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path


class OutputDirError(ValueError):
    """The output directory cannot take the run's files."""


def check_output_dir(out: Path, names: list[str]) -> None:
    """Make sure ``out`` is (or can become) a writable directory and ``names`` can be replaced in it.

    Creates ``out`` (and its parents) if missing.

    Raises
    ------
    OutputDirError
        Naming the path and the reason: ``out`` is a file, cannot be created, is not writable, or one of
        ``names`` inside it is a directory.
    """
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"--out: '{out}' exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputDirError(f"--out: cannot create directory '{out}': {exc.strerror or exc}") from None
    for name in names:
        target = out / name
        if target.exists() and not target.is_file():
            raise OutputDirError(f"--out: '{target}' exists and is not a file; remove it or choose another --out")
    try:
        with tempfile.NamedTemporaryFile(dir=out, prefix=".h2q-probe-"):
            pass
    except OSError as exc:
        raise OutputDirError(f"--out: cannot write into '{out}': {exc.strerror or exc}") from None


def write_all_or_none(out: Path, writers: Mapping[str, Callable[[Path], None]]) -> list[Path]:
    """Write several files into ``out`` so that either all new files end up there or none does.

    Parameters
    ----------
    out : Path
        Existing directory (see :func:`check_output_dir`).
    writers : mapping of str to callable
        File name to a function writing that file's content to the path it is given.

    Returns
    -------
    list of Path
        The files written, in the order of ``writers``.

    Raises
    ------
    Exception
        Whatever a writer or a rename raised; the directory then holds its previous files unchanged.
    """
    stage = Path(tempfile.mkdtemp(dir=out, prefix=".h2q-write-"))
    try:
        new_dir, old_dir = stage / "new", stage / "old"
        new_dir.mkdir()
        old_dir.mkdir()
        for name, write in writers.items():
            write(new_dir / name)
        placed: list[tuple[str, bool]] = []
        try:
            for name in writers:
                target = out / name
                had_old = target.is_file()
                if had_old:
                    os.replace(target, old_dir / name)
                placed.append((name, had_old))
                os.replace(new_dir / name, target)
        except BaseException:
            # Undo in reverse: drop what was placed, put the previous files back.
            for name, had_old in reversed(placed):
                target = out / name
                if target.is_file() and not (new_dir / name).exists():
                    target.unlink()
                if had_old:
                    os.replace(old_dir / name, target)
            raise
        return [out / name for name in writers]
    finally:
        shutil.rmtree(stage, ignore_errors=True)
