"""Snapshot and backup files: standalone qcow2 copies of a droplet's disk.

A copy has no backing file (the chain overlay -> base image is flattened),
so it outlives the image its droplet was built from, and any droplet can be
built on it as on a distribution image. QEMU runs as its own user and reads
these files as backing files: directories are 0755 and files 0644.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from shoal.images.host_tools import run

log = logging.getLogger(__name__)

GiB = 1024**3


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


def flatten(source: str, target: Path) -> None:
    """Write `source` and everything it is backed by as one qcow2 at `target`.

    The source must not be in use by a running QEMU, which may hold parts
    of it in its caches.
    """
    target.unlink(missing_ok=True)
    run(["qemu-img", "convert", "-O", "qcow2", source, target])
    publish(target)
    log.info("disk flattened source=%s target=%s", source, target)


def publish(path: Path) -> None:
    """Let QEMU, as its own user, read the file."""
    os.chmod(path, 0o644)


def size_gigabytes(path: Path) -> float:
    """The space the file takes on disk, in GiB, as DigitalOcean reports it."""
    return round(path.stat().st_blocks * 512 / GiB, 2)
