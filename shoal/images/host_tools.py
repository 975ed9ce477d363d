"""Running the host programs the image builders need (mmdebstrap, mkfs, qemu-img).

A failing program becomes one ``ImageBuildError`` that carries the tail of its
stderr, so the operator sees why without digging through a temp dir that is
already gone.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Sequence

from shoal.images.errors import HostToolMissing, ImageBuildError

log = logging.getLogger(__name__)

Arg = str | os.PathLike[str]

#: The Debian package that provides each program, for the error message.
PACKAGES = {
    "mmdebstrap": "mmdebstrap",
    "mkfs.ext4": "e2fsprogs",
    "e2fsck": "e2fsprogs",
    "qemu-img": "qemu-utils",
    "apt-get": "apt",
    "dpkg-deb": "dpkg",
    "chroot": "coreutils",
}

STDERR_TAIL_LINES = 25


def run(argv: Sequence[Arg], *, cwd: Arg | None = None) -> str:
    """Run ``argv`` to completion and return its stdout.

    Raises ``HostToolMissing`` when the program is absent and
    ``ImageBuildError`` (chaining the ``CalledProcessError``) when it fails.
    """
    args = [os.fspath(arg) for arg in argv]
    log.debug("running argv=%s", args)

    try:
        done = subprocess.run(
            args,
            cwd=cwd,
            check=True,
            capture_output=True,
            text=True,
            errors="replace",
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        package = PACKAGES.get(args[0], "?")
        raise HostToolMissing(
            f"{args[0]} is not installed (Debian package {package})"
        ) from exc
    except subprocess.CalledProcessError as exc:
        raise ImageBuildError(
            f"{args[0]} exited with status {exc.returncode}:\n{_tail(exc.stderr)}"
        ) from exc

    return done.stdout


def _tail(text: str | None) -> str:
    lines = (text or "").rstrip().splitlines()
    return "\n".join(lines[-STDERR_TAIL_LINES:])
