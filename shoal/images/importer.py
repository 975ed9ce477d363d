"""An untrusted disk file in, a checked standalone qcow2 out.

The steps: expand gzip, bzip2 or xz (capped), apply the rules in
``safety``, convert to qcow2 with the format pinned and backing disabled,
check what the guest would boot from, and rename the result into place.
All work happens in a temp dir beside the target, which goes whatever
happens; the target appears whole or not at all, readable by QEMU (0644).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from shoal.images import capture, qemu_img, safety, sniff
from shoal.images.decompress import decompress
from shoal.images.limits import ImageLimits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportedImage:
    path: Path
    source_format: str
    compression: str | None
    virtual_size: int
    file_bytes: int


def import_disk(source: Path, target: Path, limits: ImageLimits) -> ImportedImage:
    """Check ``source`` and write it as a qcow2 at ``target``; ``source`` stays.

    Raises an ``ImageRejected`` (its message fit for the user) when the file
    is not a disk Shoal will run.
    """
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.import-", dir=target.parent))
    try:
        disk, compression = _expanded(source, work, limits)
        facts = safety.inspect_disk(disk, limits)
        staged = work / "image.qcow2"
        qemu_img.convert_to_qcow2(disk, facts.format, staged, limits)
        _check_converted(staged, work, limits)

        capture.publish(staged)
        os.replace(staged, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    imported = ImportedImage(
        path=target,
        source_format=facts.format,
        compression=compression,
        virtual_size=facts.virtual_size,
        file_bytes=target.stat().st_size,
    )
    log.info(
        "image imported format=%s compression=%s virtual_size=%d bytes=%d "
        "seconds=%.1f path=%s",
        imported.source_format,
        imported.compression,
        imported.virtual_size,
        imported.file_bytes,
        time.monotonic() - started,
        target,
    )
    return imported


def _expanded(source: Path, work: Path, limits: ImageLimits) -> tuple[Path, str | None]:
    kind = sniff.compression(sniff.read_head(source))
    if kind is None:
        return source, None

    disk = work / "disk"
    decompress(source, kind, disk, limits.decompressed_bytes)
    return disk, kind


def _check_converted(image: Path, work: Path, limits: ImageLimits) -> None:
    # The output is Shoal's own, but it is what QEMU will open: the same
    # rules hold for it, and the guest must find a boot sector on it.
    safety.check_qcow2_header(sniff.read_head(image))
    safety.check_info(qemu_img.info(image, "qcow2", limits), image)
    sniff.check_boot_sector(qemu_img.first_sector(image, "qcow2", work / "mbr", limits))
