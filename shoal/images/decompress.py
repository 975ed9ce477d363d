"""gzip, bzip2 and xz disk images, expanded with a cap on what comes out.

A few megabytes of gzip expand to terabytes of zeros; the cap stops the
expansion as soon as it is passed, not after. Runs of zeros are skipped
in the output, so a raw disk stays as sparse as its content.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import lzma
from pathlib import Path
from typing import BinaryIO

from shoal.images.errors import CorruptImage, ImageTooLarge

log = logging.getLogger(__name__)

CHUNK = 1 << 20
GiB = 1 << 30

OPENERS = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}

# What each library raises on a damaged or cut stream.
STREAM_ERRORS = (OSError, EOFError, lzma.LZMAError, ValueError)


def decompress(source: Path, kind: str, target: Path, max_bytes: int) -> int:
    """Expand ``source`` (``gzip``, ``bzip2`` or ``xz``) into ``target``.

    Returns the expanded size. Raises ``ImageTooLarge`` past ``max_bytes``
    and ``CorruptImage`` for a damaged or truncated stream; ``target`` is
    removed in both cases.
    """
    try:
        with OPENERS[kind](source, "rb") as stream, open(target, "wb") as out:
            size = _copy_capped(stream, out, max_bytes)
            out.truncate(size)
    except ImageTooLarge:
        target.unlink(missing_ok=True)
        raise
    except STREAM_ERRORS as exc:
        target.unlink(missing_ok=True)
        raise CorruptImage(f"The {kind} file is damaged or truncated.") from exc

    log.info("image decompressed kind=%s bytes=%d", kind, size)
    return size


def _copy_capped(stream: BinaryIO, out: BinaryIO, max_bytes: int) -> int:
    zeros = bytes(CHUNK)
    size = 0
    while block := stream.read(CHUNK):
        size += len(block)
        if size > max_bytes:
            raise ImageTooLarge(
                f"The image expands to more than {max_bytes / GiB:.1f} GiB "
                "when decompressed."
            )
        if block == zeros[: len(block)]:
            out.seek(len(block), 1)
        else:
            out.write(block)
    return size
