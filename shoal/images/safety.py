"""The rules an untrusted disk file must pass before Shoal converts it.

A disk image is the most dangerous input Shoal takes: QEMU opens it, and
an image can make QEMU open other files too. The rules, in order:

1. The format is read from the magic bytes, never from the file name, and
   must be raw, qcow2, vmdk (sparse, one file), vdi or vhdx. qemu-img's own
   guess must agree; from then on the format is pinned.
2. A qcow2 header naming a backing file or an external data file is
   refused before qemu-img opens the file; so is an encrypted one.
3. ``qemu-img info`` (format pinned, backing disabled) must report no
   backing file, no data file, and no VMDK extent outside the file itself.
4. The virtual size is within the limit, and not zero.
5. ``qemu-img check`` finds no corruption (a truncated qcow2 converts
   "successfully" into zeros otherwise); a raw file is whole sectors.
6. A raw disk starts with a boot sector; other formats are checked after
   conversion (``importer``), on what the guest would read.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from shoal.images import qcow2_header, qemu_img, sniff
from shoal.images.errors import (
    CorruptImage,
    ImageTooLarge,
    UnsafeImage,
    UnsupportedFormat,
)
from shoal.images.limits import ImageLimits

log = logging.getLogger(__name__)

GiB = 1 << 30


@dataclass(frozen=True)
class DiskFacts:
    format: str
    virtual_size: int


def inspect_disk(path: Path, limits: ImageLimits) -> DiskFacts:
    """Apply every rule to the (decompressed) file; its facts if it passes."""
    head = sniff.read_head(path)
    fmt = sniff.disk_format(head)
    if fmt == "qcow2":
        check_qcow2_header(head)
    if fmt == "raw":
        _check_raw(path, head)

    _check_probe_agrees(fmt, qemu_img.probe(path, limits))
    info = qemu_img.info(path, fmt, limits)
    check_info(info, path)
    virtual_size = _check_virtual_size(info, limits)
    _check_integrity(path, fmt, limits)

    log.info("image inspected format=%s virtual_size=%d", fmt, virtual_size)
    return DiskFacts(format=fmt, virtual_size=virtual_size)


def check_qcow2_header(head: bytes) -> None:
    header = qcow2_header.parse(head)
    if header.names_backing_file:
        raise UnsafeImage(
            "The qcow2 image names a backing file; upload a standalone image "
            "(qemu-img convert -O qcow2 flattens it)."
        )
    if header.names_data_file:
        raise UnsafeImage("The qcow2 image keeps its data in an external file.")
    if header.encrypted:
        raise UnsupportedFormat("Encrypted qcow2 images are not supported.")


def _check_raw(path: Path, head: bytes) -> None:
    # The boot sector first: a file that is no disk at all should hear so,
    # not that it looks truncated.
    sniff.check_boot_sector(head[: sniff.SECTOR])

    size = path.stat().st_size
    if size % sniff.SECTOR:
        raise CorruptImage(
            f"The raw disk is {size} bytes, not a whole number of 512-byte "
            "sectors: it looks truncated."
        )


def _check_probe_agrees(fmt: str, probed: str) -> None:
    # qemu-img knows formats whose magic Shoal does not list; a file one of
    # them claims is not the raw disk Shoal would take it for.
    if probed != fmt:
        raise UnsupportedFormat(
            f"The image's format is ambiguous (looks like {fmt}, qemu-img "
            f"reads it as {probed}); only raw, qcow2, vmdk, vdi and vhdx are "
            "accepted."
        )


def check_info(info: dict, path: Path) -> None:
    """What ``qemu-img info`` reports must name no file but ``path``."""
    if info.get("backing-filename") or info.get("full-backing-filename"):
        raise UnsafeImage("The image names a backing file; upload a standalone image.")

    specific = info.get("format-specific", {}).get("data", {})
    if specific.get("data-file"):
        raise UnsafeImage("The image keeps its data in an external file.")
    if info.get("encrypted"):
        raise UnsupportedFormat("Encrypted images are not supported.")

    own = os.path.realpath(path)
    for extent in specific.get("extents", []):
        if os.path.realpath(extent.get("filename", "")) != own:
            raise UnsafeImage("The VMDK image keeps extents in other files.")


def _check_virtual_size(info: dict, limits: ImageLimits) -> int:
    size = int(info.get("virtual-size", 0))
    if size <= 0:
        raise UnsupportedFormat("The image has no disk size.")
    if size > limits.virtual_bytes:
        raise ImageTooLarge(
            f"The image's disk is {size / GiB:.1f} GiB; the limit is "
            f"{limits.virtual_bytes / GiB:.1f} GiB."
        )
    return size


def _check_integrity(path: Path, fmt: str, limits: ImageLimits) -> None:
    if fmt == "raw":
        return

    result = qemu_img.check(path, fmt, limits)
    if result is None:
        return
    if result.get("corruptions", 0) or result.get("check-errors", 0):
        raise CorruptImage(
            f"The {fmt} image is damaged or truncated "
            f"({result.get('corruptions', 0)} corruptions found by qemu-img check)."
        )
