"""What a file is, from its first bytes: never from its name.

DigitalOcean takes raw, qcow2, vmdk, vdi and vhdx disks, gzip or bzip2
compressed (Shoal also takes xz). Everything else QEMU could open (QED,
VHD, Parallels, LUKS, ...) is refused here, before qemu-img sees it: some
of those formats name other files too, and none of them is asked for.
"""

from __future__ import annotations

from pathlib import Path

from shoal.images.errors import UnsafeImage, UnsupportedFormat

HEAD_BYTES = 64 * 1024
SECTOR = 512

COMPRESSIONS = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
}

# Magic at offset 0 of the formats Shoal converts.
DISK_MAGIC = {
    b"QFI\xfb": "qcow2",
    b"KDMV": "vmdk",
    b"vhdxfile": "vhdx",
}
VDI_SIGNATURE_OFFSET = 0x40
VDI_SIGNATURE = b"\x7f\x10\xda\xbe"

# What else a file may be, and why Shoal says no.
REFUSED_MAGIC = {
    b"# Disk DescriptorFile": "a VMDK descriptor names its data in other files",
    b"COWD": "VMDK version 3 is not supported",
    b"QED\x00": "QED images are not supported",
    b"conectix": "VHD images are not supported; convert to VHDX or raw",
    b"WithoutFreeSpace": "Parallels images are not supported",
    b"WithouFreSpacExt": "Parallels images are not supported",
    b"LUKS\xba\xbe": "encrypted (LUKS) images are not supported",
    b"Bochs Virtual HD Image": "Bochs images are not supported",
    b"PK\x03\x04": "zip archives are not supported; upload the disk itself",
    b"\x28\xb5\x2f\xfd": "zstd compression is not supported; use gzip or bzip2",
}
TAR_MAGIC_OFFSET = 257
TAR_MAGIC = b"ustar"

BOOT_SIGNATURE_OFFSET = 510
BOOT_SIGNATURE = b"\x55\xaa"


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    with open(path, "rb") as source:
        return source.read(size)


def compression(head: bytes) -> str | None:
    """``gzip``, ``bzip2`` or ``xz`` if the bytes start a compressed stream."""
    for magic, kind in COMPRESSIONS.items():
        if head.startswith(magic):
            return kind
    return None


def disk_format(head: bytes) -> str:
    """The format the bytes start; ``raw`` when they start none we know.

    Raises ``UnsafeImage`` for a VMDK descriptor and ``UnsupportedFormat``
    for anything else Shoal refuses.
    """
    for magic, kind in DISK_MAGIC.items():
        if head.startswith(magic):
            return kind
    if head[VDI_SIGNATURE_OFFSET:].startswith(VDI_SIGNATURE):
        return "vdi"

    _refuse_known(head)
    return "raw"


def _refuse_known(head: bytes) -> None:
    for magic, reason in REFUSED_MAGIC.items():
        if head.startswith(magic):
            error = UnsafeImage if magic.startswith(b"# Disk") else UnsupportedFormat
            raise error(f"The image was refused: {reason}.")
    if head[TAR_MAGIC_OFFSET:].startswith(TAR_MAGIC):
        raise UnsupportedFormat(
            "The image was refused: tar archives are not supported; "
            "upload the disk itself."
        )


def check_boot_sector(first_sector: bytes) -> None:
    """Refuse a disk that cannot boot in a droplet.

    Droplets boot from their disk through the BIOS, which needs a boot
    sector: every MBR disk has one, and so has every GPT disk (its
    protective MBR). A text file, an HTML error page or a bare filesystem
    does not.
    """
    signature = first_sector[BOOT_SIGNATURE_OFFSET : BOOT_SIGNATURE_OFFSET + 2]
    if signature != BOOT_SIGNATURE:
        raise UnsupportedFormat(
            "The file is not a bootable disk image: its first sector holds "
            "no partition table (raw, qcow2, vmdk, vdi and vhdx disks are "
            "accepted, optionally gzip, bzip2 or xz compressed)."
        )
