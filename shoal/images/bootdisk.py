"""The boot disk: GRUB in the MBR and its gap, one msdos partition holding the root.

Layout, in 512-byte sectors, as ``grub-install`` leaves a BIOS/MBR disk::

    0              boot.img's code (440 bytes), disk id, partition table, 55 AA
    1 .. start-1   core.img: diskboot's sector, then the compressed GRUB kernel
    start .. end   partition 1, type 0x83, bootable: the ext4 root

We write it by hand instead of running ``grub-install`` so that the build needs
no loop device and no mount. That means doing the two things ``grub-bios-setup``
does: patch boot.img (where core.img starts, the BIOS drive workaround) and
patch core.img's blocklist (where the rest of core.img lies). Unlike
``grub-bios-setup`` we add no Reed-Solomon codes after core.img; they only
repair a gap that other software overwrote, and GRUB boots without them.

boot.img finds core.img; core.img runs ``load.cfg`` to find the root filesystem
by label and then reads ``/boot/grub/grub.cfg`` from it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from shoal.images.errors import BootLayoutError
from shoal.images.host_tools import run

SECTOR = 512
BOOT_SIGNATURE = b"\x55\xaa"
LINUX_PARTITION = 0x83

# Offsets in boot.img, from GRUB's include/grub/i386/pc/boot.h.
BOOT_BPB = slice(0x03, 0x5A)
BOOT_KERNEL_SECTOR = 0x5C
BOOT_DRIVE = 0x64
BOOT_DRIVE_CHECK = 0x66
BOOT_CODE_END = 440  # disk id, partition table and signature follow

# core.img's first sector ends with blocklist entries {u64 start, u16 len,
# u16 segment}, read backwards until one with len 0; the first is the last.
BLOCKLIST_ENTRY = struct.Struct("<QHH")
FIRST_BLOCKLIST = SECTOR - BLOCKLIST_ENTRY.size
# Where diskboot loads the sectors after its own: GRUB_BOOT_I386_PC_KERNEL_SEG
# (0x800) plus one sector's worth of paragraphs.
CORE_LOAD_SEGMENT = 0x800 + (SECTOR >> 4)

CORE_SECTOR = 1

# The classic geometry for CHS fields; BIOSes and Linux use the LBA fields.
HEADS = 255
SECTORS_PER_TRACK = 63
CHS_LIMIT = b"\xfe\xff\xff"


@dataclass(frozen=True)
class DiskLayout:
    """Sizes of a one-partition MBR disk; the partition runs to the end."""

    disk_bytes: int
    partition_start: int = 2048  # 1 MiB: aligned, and room for core.img

    @property
    def disk_sectors(self) -> int:
        return self.disk_bytes // SECTOR

    @property
    def partition_sectors(self) -> int:
        return self.disk_sectors - self.partition_start

    @property
    def partition_offset(self) -> int:
        return self.partition_start * SECTOR

    @property
    def partition_bytes(self) -> int:
        return self.partition_sectors * SECTOR

    @property
    def core_room(self) -> int:
        """Sectors between the MBR and the partition, where core.img goes."""
        return self.partition_start - CORE_SECTOR


def lba_to_chs(lba: int) -> bytes:
    """The 3-byte CHS address of ``lba``, saturated the way fdisk does."""
    cylinder, rest = divmod(lba, HEADS * SECTORS_PER_TRACK)
    if cylinder > 1023:
        return CHS_LIMIT

    head, sector = divmod(rest, SECTORS_PER_TRACK)
    return bytes([head, (sector + 1) | ((cylinder >> 2) & 0xC0), cylinder & 0xFF])


def partition_entry(start: int, sectors: int, *, bootable: bool = True) -> bytes:
    """One 16-byte MBR partition table entry of a Linux partition."""
    return b"".join(
        [
            b"\x80" if bootable else b"\x00",
            lba_to_chs(start),
            bytes([LINUX_PARTITION]),
            lba_to_chs(start + sectors - 1),
            struct.pack("<II", start, sectors),
        ]
    )


def boot_sector(boot_img: bytes, layout: DiskLayout, disk_id: int) -> bytes:
    """Sector 0: boot.img patched as grub-bios-setup does, plus the table."""
    if len(boot_img) != SECTOR or boot_img[-2:] != BOOT_SIGNATURE:
        raise BootLayoutError("boot.img is not a 512-byte boot sector")

    code = bytearray(boot_img[:BOOT_CODE_END])

    # A fresh disk has no DOS BPB to keep; grub-bios-setup copies the disk's.
    code[BOOT_BPB] = bytes(BOOT_BPB.stop - BOOT_BPB.start)
    struct.pack_into("<Q", code, BOOT_KERNEL_SECTOR, CORE_SECTOR)

    # 0xff: use the drive number the BIOS passes in DL.
    code[BOOT_DRIVE] = 0xFF

    # On a hard disk, NOP out the jump so a BIOS passing a bogus DL gets 0x80.
    code[BOOT_DRIVE_CHECK : BOOT_DRIVE_CHECK + 2] = b"\x90\x90"

    table = partition_entry(layout.partition_start, layout.partition_sectors)
    return b"".join(
        [
            bytes(code),
            struct.pack("<IH", disk_id, 0),
            table.ljust(64, b"\x00"),
            BOOT_SIGNATURE,
        ]
    )


def place_core_img(core_img: bytes, layout: DiskLayout) -> bytes:
    """core.img with its blocklist pointing at the sectors that follow it.

    core.img sits at sector 1, so the rest of it starts at sector 2 and runs
    contiguously: one blocklist entry, as grub-bios-setup writes when it
    embeds core.img in the MBR gap.
    """
    sectors = -(-len(core_img) // SECTOR)
    if sectors < 2:
        raise BootLayoutError(f"core.img is too small ({len(core_img)} bytes)")
    if sectors > layout.core_room:
        raise BootLayoutError(
            f"core.img needs {sectors} sectors, the gap holds {layout.core_room}"
        )

    terminator = BLOCKLIST_ENTRY.unpack_from(core_img, FIRST_BLOCKLIST - 12)
    if terminator[1] != 0:
        raise BootLayoutError("core.img's blocklist has no terminator entry")

    image = bytearray(core_img.ljust(sectors * SECTOR, b"\x00"))
    BLOCKLIST_ENTRY.pack_into(
        image, FIRST_BLOCKLIST, CORE_SECTOR + 1, sectors - 1, CORE_LOAD_SEGMENT
    )
    return bytes(image)


def write_disk(
    path: Path, layout: DiskLayout, boot: bytes, core: bytes, root_fs: Path
) -> None:
    """Write a sparse raw disk: boot sector, core.img, then the root partition."""
    if root_fs.stat().st_size != layout.partition_bytes:
        raise BootLayoutError("the root filesystem image does not fill partition 1")

    with open(path, "wb") as disk:
        disk.truncate(layout.disk_bytes)
        disk.write(boot)
        disk.write(core)
        disk.seek(layout.partition_offset)
        with open(root_fs, "rb") as source:
            _copy_sparse(source, disk)


def _copy_sparse(source: BinaryIO, target: BinaryIO, chunk: int = 1 << 20) -> None:
    # Skipping zero chunks keeps the raw disk as sparse as the filesystem image.
    zeros = bytes(chunk)
    while block := source.read(chunk):
        if block == zeros[: len(block)]:
            target.seek(len(block), 1)
        else:
            target.write(block)


def grub_load_cfg(root_label: str) -> str:
    """The config embedded in core.img: find the root by label, then grub.cfg."""
    return f"search.fs_label {root_label} root\nset prefix=($root)/boot/grub\n"


def grub_cfg(kernel_cmdline: str) -> str:
    """/boot/grub/grub.cfg: serial and screen, no menu, boot /vmlinuz at once.

    /vmlinuz and /initrd.img are the symlinks the kernel package keeps current,
    so a kernel upgrade inside the guest boots without update-grub, which this
    image does not have (it carries grub-pc-bin, not grub-pc).
    """
    return "\n".join(
        [
            "# Written by Shoal's image builder.",
            "serial --unit=0 --speed=115200",
            "terminal_input serial console",
            "terminal_output serial console",
            "set default=0",
            "set timeout=0",
            "menuentry 'Debian GNU/Linux' {",
            "\techo 'Loading Linux ...'",
            f"\tlinux /vmlinuz {kernel_cmdline}",
            "\techo 'Loading initial ramdisk ...'",
            "\tinitrd /initrd.img",
            "}",
            "",
        ]
    )


def make_core_img(root: Path, modules: tuple[str, ...]) -> bytes:
    """Run the rootfs's own grub-mkimage in a chroot; return core.img.

    The chroot's GRUB matches the modules copied to /boot/grub/i386-pc, and
    the host needs no GRUB packages. grub-mkimage needs no /proc or /dev.
    """
    grub_dir = "/boot/grub/i386-pc"
    run(
        [
            "chroot",
            root,
            "grub-mkimage",
            "--format=i386-pc",
            f"--output={grub_dir}/core.img",
            f"--config={grub_dir}/load.cfg",
            "--prefix=/boot/grub",
            *modules,
        ]
    )
    return (root / grub_dir.lstrip("/") / "core.img").read_bytes()
