"""Build-once cache entries: a file or directory that appears whole or not at all.

A build runs in a temp dir next to its final name, under an exclusive lock per
entry, and ends with one ``rename``. A build killed half way leaves only a
``.<name>.build-*`` temp dir, which the next build of that entry sweeps away; it never
leaves a half image under the final name.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


def cached(final: Path, build: Callable[[Path], Path]) -> Path:
    """Return ``final``, first calling ``build(workdir)`` if it does not exist.

    ``build`` gets an empty directory on the same filesystem as ``final`` and
    returns the path, inside it, of what becomes ``final``.
    """
    if final.exists():
        return final

    final.parent.mkdir(parents=True, exist_ok=True)
    with _locked(final):
        # Another process may have finished the same entry while we waited.
        if final.exists():
            return final

        _sweep_stale(final)
        workdir = Path(tempfile.mkdtemp(prefix=_temp_prefix(final), dir=final.parent))
        try:
            os.replace(build(workdir), final)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    return final


@contextmanager
def _locked(final: Path) -> Iterator[None]:
    lock_path = final.parent / f".{final.name}.lock"
    with open(lock_path, "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _sweep_stale(final: Path) -> None:
    # We hold this entry's lock, so any temp dir of it belongs to a dead build.
    for stale in final.parent.glob(_temp_prefix(final) + "*"):
        log.warning("removing stale build dir path=%s", stale)
        shutil.rmtree(stale, ignore_errors=True)


def _temp_prefix(final: Path) -> str:
    return f".{final.name}.build-"
