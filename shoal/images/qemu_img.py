"""qemu-img on untrusted images: format pinned, no backing chain, limits on.

Every call opens the image through a ``json:`` filename that pins the
format driver and sets ``backing`` to null, so qemu-img never probes a
format and never opens a backing file, whatever the header says (the
checks in ``safety`` refuse such headers before; this is the second
lock). Reads take ``--force-share``: Shoal never writes the source.

Each run has an address-space and CPU limit (``prlimit``) and a wall-clock
timeout, so a crafted image cannot take the host's memory or a core with
it. A failure is a ``CorruptImage`` whose message names no host path.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from shoal.images.errors import CorruptImage, HostToolMissing
from shoal.images.limits import ImageLimits

log = logging.getLogger(__name__)

STDERR_TAIL_LINES = 3

# qemu-img check's exit statuses: 2 corruptions, 3 leaked clusters only
# (harmless: space the image does not use), 63 no check for this format.
CHECK_CORRUPT = 2
CHECK_LEAKS = 3
CHECK_UNSUPPORTED = 63

# prlimit's status when it cannot run the program it was given.
PRLIMIT_EXEC_FAILED = 127


def image_spec(path: Path, fmt: str) -> str:
    """The ``json:`` filename that opens ``path`` as ``fmt`` and nothing else."""
    spec = {
        "driver": fmt,
        "backing": None,
        "file": {"driver": "file", "filename": os.fspath(path)},
    }
    return "json:" + json.dumps(spec)


def probe(path: Path, limits: ImageLimits) -> str:
    """The format qemu-img itself guesses for the file (its only unpinned use).

    The guess is compared with Shoal's own reading of the magic bytes; the
    image is then always opened with the format pinned.
    """
    args = ["info", "--output=json", "--force-share", os.fspath(path)]
    return json.loads(_run(args, path, limits).stdout)["format"]


def info(path: Path, fmt: str, limits: ImageLimits) -> dict:
    """``qemu-img info`` of the image opened as ``fmt``, parsed."""
    args = ["info", "--output=json", "--force-share", image_spec(path, fmt)]
    return json.loads(_run(args, path, limits).stdout)


def check(path: Path, fmt: str, limits: ImageLimits) -> dict | None:
    """``qemu-img check`` results; None if the format has no check."""
    args = ["check", "--output=json", "--force-share", image_spec(path, fmt)]
    done = _run(
        args, path, limits, ok=(0, CHECK_CORRUPT, CHECK_LEAKS, CHECK_UNSUPPORTED)
    )
    if done.returncode == CHECK_UNSUPPORTED:
        return None
    return json.loads(done.stdout)


def convert_to_qcow2(source: Path, fmt: str, target: Path, limits: ImageLimits) -> None:
    """Write the guest-visible content of ``source`` as a standalone qcow2."""
    args = [
        "convert",
        "--force-share",
        "-O",
        "qcow2",
        image_spec(source, fmt),
        os.fspath(target),
    ]
    _run(args, source, limits)


def first_sector(path: Path, fmt: str, scratch: Path, limits: ImageLimits) -> bytes:
    """The first 512 bytes the guest would read from the disk."""
    args = [
        "dd",
        "--force-share",
        "-O",
        "raw",
        "bs=512",
        "count=1",
        f"if={image_spec(path, fmt)}",
        f"of={os.fspath(scratch)}",
    ]
    _run(args, path, limits)
    try:
        return scratch.read_bytes()
    finally:
        scratch.unlink(missing_ok=True)


def _limited(args: Sequence[str], limits: ImageLimits) -> list[str]:
    return [
        "prlimit",
        f"--as={limits.qemu_img_memory_bytes}",
        f"--cpu={limits.qemu_img_cpu_seconds}",
        "--",
        "qemu-img",
        *args,
    ]


def _run(
    args: Sequence[str],
    image: Path,
    limits: ImageLimits,
    ok: tuple[int, ...] = (0,),
) -> subprocess.CompletedProcess:
    argv = _limited(args, limits)
    log.debug("running argv=%s", argv)
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            stdin=subprocess.DEVNULL,
            timeout=limits.qemu_img_timeout_seconds,
        )
    except FileNotFoundError as exc:
        raise HostToolMissing("prlimit (util-linux) is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise CorruptImage(
            f"qemu-img {args[0]} took longer than "
            f"{limits.qemu_img_timeout_seconds:.0f} s on the image."
        ) from exc

    if done.returncode == PRLIMIT_EXEC_FAILED:
        raise HostToolMissing("qemu-img is not installed (Debian package qemu-utils)")
    if done.returncode not in ok:
        raise CorruptImage(_failure(args[0], done, image))
    return done


def _failure(command: str, done: subprocess.CompletedProcess, image: Path) -> str:
    if done.returncode < 0:
        # Killed by a signal: RLIMIT_CPU sends SIGXCPU, a failed allocation
        # under RLIMIT_AS aborts.
        reason = f"stopped by its resource limits (status {done.returncode})"
    else:
        reason = _tail(done.stderr).replace(os.fspath(image.parent), "") or (
            f"status {done.returncode}"
        )
    return f"qemu-img {command} could not read the image: {reason}"


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines[-STDERR_TAIL_LINES:])
