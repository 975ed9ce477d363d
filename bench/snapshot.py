"""Copy the ``shoal`` package as it is now, and print where it went.

The tree a benchmark measures can change under it while others work; a
run against a copy measures one state of the code from start to end:

    PYTHONPATH=$(python -m bench.snapshot) python -m bench.provision

The copy is named by the hash of its contents, which every result file
records (``machine.shoal_tree_sha256``).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import shoal

SNAPSHOTS = Path("/var/tmp/shoal-bench-src")


def tree_hash(package: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(package)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def snapshot(package: Path) -> Path:
    root = SNAPSHOTS / tree_hash(package)[:16]
    if not (root / "shoal").exists():
        root.mkdir(parents=True, exist_ok=True)
        shutil.copytree(
            package, root / "shoal", ignore=shutil.ignore_patterns("__pycache__")
        )
    return root


if __name__ == "__main__":
    print(snapshot(Path(shoal.__file__).parent))
    sys.exit(0)
