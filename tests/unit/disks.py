"""Small disk images for the image tests, made with the real qemu-img.

A "bootable" disk here is 4 MiB with a boot signature and a marker at
1 MiB, so a conversion can be checked byte for byte.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import subprocess
from pathlib import Path

MiB = 1 << 20
MARKER = b"shoal-test-disk"
COMPRESSORS = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}


def qemu_img(*args: str | Path) -> str:
    done = subprocess.run(
        ["qemu-img", *map(os.fspath, args)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def bootable_raw(path: Path, size: int = 4 * MiB, fill: bytes = b"") -> Path:
    disk = bytearray(size)
    disk[510:512] = b"\x55\xaa"
    disk[MiB : MiB + len(MARKER)] = MARKER
    disk[2 * MiB : 2 * MiB + len(fill)] = fill
    path.write_bytes(bytes(disk))
    return path


def disk_as(fmt: str, path: Path, **raw_options) -> Path:
    """A bootable disk in ``fmt`` at ``path``."""
    raw = bootable_raw(path.with_name(path.name + ".src.raw"), **raw_options)
    if fmt == "raw":
        raw.rename(path)
        return path
    qemu_img("convert", "-f", "raw", "-O", fmt, raw, path)
    raw.unlink()
    return path


def compressed(source: Path, kind: str) -> Path:
    target = source.with_name(f"{source.name}.{kind}")
    target.write_bytes(COMPRESSORS[kind](source.read_bytes()))
    return target


def guest_bytes(image: Path) -> bytes:
    """What a guest reads from the qcow2 ``image``, as raw bytes."""
    raw = image.with_name(image.name + ".check.raw")
    qemu_img("convert", "-f", "qcow2", "-O", "raw", image, raw)
    try:
        return raw.read_bytes()
    finally:
        raw.unlink()
