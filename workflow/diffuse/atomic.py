"""Outputs appear whole or not at all: written aside, then renamed into place.

A job killed midway (SIGKILL, a node lost, a Slurm job that leaves the queue and is reported as success)
leaves only a hidden sibling named `.<name>.partial-<pid>`, which no rule reads and the next attempt removes,
never a half-written adapter or model under the output's own name.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _partials(final: Path) -> list[Path]:
    return sorted(final.parent.glob(f".{final.name}.partial-*"))


@contextmanager
def atomic_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty sibling folder to write into; on success it replaces `final` in one rename.
    Leftovers of earlier killed attempts are removed first; on an exception the sibling is removed."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in _partials(final):
        shutil.rmtree(stale, ignore_errors=True)
    partial = final.with_name(f".{final.name}.partial-{os.getpid()}")
    partial.mkdir()
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if final.exists():
        # Snakemake may create the empty output folder itself; rename(2) replaces only an empty one.
        if final.is_dir() and not any(final.iterdir()):
            final.rmdir()
        else:
            raise FileExistsError(f"{final} exists and is not empty; remove it before writing it again")
    os.replace(partial, final)


@contextmanager
def atomic_file(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a sibling path to write; on success it replaces `final` in one rename."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f".{final.name}.partial-{os.getpid()}")
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, final)


def write_table(table, path: str | os.PathLike) -> None:
    """Write a DataFrame whole or not at all, as Parquet or CSV by the path's suffix (no index).

    A cluster job can be reported finished while its process was killed midway; Snakemake then only checks
    that the outputs exist, so an output must never exist half written."""
    path = Path(path)
    writers = {".parquet": table.to_parquet, ".csv": table.to_csv}
    if path.suffix not in writers:
        raise ValueError(f"{path}: write_table writes .parquet or .csv, not {path.suffix!r}")
    with atomic_file(path) as partial:
        writers[path.suffix](partial, index=False)
