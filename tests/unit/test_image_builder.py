"""The image builders' pure parts: cache keys, disk layout, GRUB patching, cpio.

Nothing here runs a program: an autouse fixture fails any test that reaches
``subprocess``, so a helper that quietly started shelling out shows up here.
The real build and boot are in ``tests/integration/test_image_boot.py``.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import stat
import struct
import subprocess
from pathlib import Path

import pytest

from shoal.images import bootdisk, builder, cache, host_tools, probe_kit, rootfs
from shoal.images.errors import (
    BootLayoutError,
    HostToolMissing,
    ImageBuildError,
    UnknownImage,
)

GiB = 1 << 30
MiB = 1 << 20
DEBIAN = builder.RECIPES["debian-12-x64"]


@pytest.fixture(autouse=True)
def no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError(f"unexpected subprocess call: {args[0]!r}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


# The cache key


def test_cache_key_is_stable_for_the_same_inputs() -> None:
    same = dataclasses.replace(DEBIAN)

    assert builder.cache_key(DEBIAN) == builder.cache_key(same)
    assert len(builder.cache_key(DEBIAN)) == 64


def test_cache_key_changes_with_the_package_list() -> None:
    more = dataclasses.replace(DEBIAN, packages=(*DEBIAN.packages, "vim-tiny"))
    fewer = dataclasses.replace(DEBIAN, packages=DEBIAN.packages[1:])

    keys = {builder.cache_key(recipe) for recipe in (DEBIAN, more, fewer)}
    assert len(keys) == 3


@pytest.mark.parametrize(
    "change",
    [
        {"suite": "trixie"},
        {"kernel_args": ("ro", "console=ttyS0")},
        {"root_label": "other-root"},
        {"disk_bytes": 3 * GiB},
        {"mirrors": ("deb http://mirror.example/debian bookworm main",)},
    ],
)
def test_cache_key_changes_with_every_setting(change: dict) -> None:
    changed = dataclasses.replace(DEBIAN, **change)

    assert builder.cache_key(changed) != builder.cache_key(DEBIAN)


def test_cache_key_changes_with_the_builder_revision(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = builder.cache_key(DEBIAN)
    monkeypatch.setattr(builder, "BUILDER_REVISION", "next")

    assert builder.cache_key(DEBIAN) != before


def test_image_path_carries_slug_and_key(tmp_path: Path) -> None:
    path = builder.image_path(DEBIAN, tmp_path)

    assert path.parent == tmp_path
    assert path.name == f"debian-12-x64-{builder.cache_key(DEBIAN)[:16]}.qcow2"


def test_unknown_slug_is_refused() -> None:
    with pytest.raises(UnknownImage, match="ubuntu-24-04-x64"):
        builder.recipe_for("ubuntu-24-04-x64")


def test_debian_recipe_has_what_a_cloud_image_needs() -> None:
    needed = {"linux-image-cloud-amd64", "grub-pc-bin", "cloud-init"}
    needed |= {"cloud-guest-utils", "openssh-server", "systemd-sysv"}

    assert needed <= set(DEBIAN.packages)


# The files written into the root


def test_fstab_and_grub_find_the_root_by_label() -> None:
    files = builder.image_files(DEBIAN)

    assert files["etc/fstab"].startswith("LABEL=shoal-root\t/\text4\t")
    assert "search.fs_label shoal-root root" in files["boot/grub/i386-pc/load.cfg"]
    assert "root=LABEL=shoal-root ro" in files["boot/grub/grub.cfg"]


def test_grub_boots_at_once_with_the_serial_console() -> None:
    grub_cfg = builder.image_files(DEBIAN)["boot/grub/grub.cfg"]

    assert "set timeout=0" in grub_cfg
    assert "terminal_output serial console" in grub_cfg
    assert "console=tty0 console=ttyS0,115200" in grub_cfg
    assert "linux /vmlinuz " in grub_cfg
    assert "initrd /initrd.img" in grub_cfg


# Disk layout and MBR


def test_layout_of_a_two_gib_disk() -> None:
    layout = bootdisk.DiskLayout(2 * GiB)

    assert layout.partition_offset == MiB
    assert layout.partition_sectors == 2 * GiB // 512 - 2048
    assert layout.partition_bytes == 2 * GiB - MiB
    assert layout.core_room == 2047


@pytest.mark.parametrize(
    ("lba", "chs"),
    [
        (0, b"\x00\x01\x00"),
        (2048, b"\x20\x21\x00"),  # what fdisk writes for a 1 MiB start
        (16065, b"\x00\x01\x01"),  # first sector of cylinder 1
        (4194303, b"\x15\x50\x05"),  # last sector of 2 GiB: C 261, H 21, S 16
        (1024 * 16065, b"\xfe\xff\xff"),  # past CHS: saturated
    ],
)
def test_lba_to_chs(lba: int, chs: bytes) -> None:
    assert bootdisk.lba_to_chs(lba) == chs


def test_partition_entry_of_the_debian_image() -> None:
    # Read back from the MBR of an image that booted under QEMU.
    layout = DEBIAN.layout
    entry = bootdisk.partition_entry(layout.partition_start, layout.partition_sectors)

    assert entry.hex() == "80202100831550050008000000f83f00"


def fake_boot_img() -> bytes:
    code = bytes(range(256)) * 2
    return code[:510] + b"\x55\xaa"


def test_boot_sector_is_patched_like_grub_bios_setup() -> None:
    layout = bootdisk.DiskLayout(2 * GiB)
    boot_img = fake_boot_img()

    sector = bootdisk.boot_sector(boot_img, layout, disk_id=0x12345678)

    assert len(sector) == 512
    assert struct.unpack_from("<Q", sector, 0x5C) == (1,)
    assert sector[0x64] == 0xFF
    assert sector[0x66:0x68] == b"\x90\x90"
    assert sector[0x03:0x5A] == bytes(0x57)
    assert sector[:3] == boot_img[:3]
    assert sector[0x68:440] == boot_img[0x68:440]


def test_boot_sector_carries_disk_id_and_one_partition() -> None:
    layout = bootdisk.DiskLayout(2 * GiB)

    sector = bootdisk.boot_sector(fake_boot_img(), layout, disk_id=0x12345678)

    assert struct.unpack_from("<I", sector, 440) == (0x12345678,)
    assert sector[446:462] == bootdisk.partition_entry(2048, layout.partition_sectors)
    assert sector[462:510] == bytes(48)
    assert sector[510:] == b"\x55\xaa"


def test_boot_sector_refuses_what_is_not_a_boot_sector() -> None:
    with pytest.raises(BootLayoutError):
        bootdisk.boot_sector(bytes(512), bootdisk.DiskLayout(GiB), disk_id=0)
    with pytest.raises(BootLayoutError):
        bootdisk.boot_sector(fake_boot_img()[:400], bootdisk.DiskLayout(GiB), 0)


def fake_core_img(size: int) -> bytes:
    # diskboot's sector: code, an empty entry (the terminator), then the
    # first blocklist entry as grub-mkimage leaves it.
    first = bytearray(b"\xcc" * 488 + bytes(12))
    first += struct.pack("<QHH", 2, 0, 0x820)
    return bytes(first) + b"\xdd" * (size - 512)


def test_core_img_blocklist_points_at_the_sectors_after_it() -> None:
    core = fake_core_img(3 * 512 + 1)

    placed = bootdisk.place_core_img(core, bootdisk.DiskLayout(GiB))

    assert len(placed) == 4 * 512
    assert struct.unpack_from("<QHH", placed, 500) == (2, 3, 0x820)
    assert placed[512 : len(core)] == core[512:]
    assert placed[:500] == core[:500]


def test_core_img_must_fit_the_gap() -> None:
    small_gap = bootdisk.DiskLayout(GiB, partition_start=64)

    with pytest.raises(BootLayoutError, match="gap holds 63"):
        bootdisk.place_core_img(fake_core_img(64 * 512), small_gap)


def test_core_img_without_blocklist_terminator_is_refused() -> None:
    core = bytearray(fake_core_img(4 * 512))
    struct.pack_into("<QHH", core, 488, 9, 9, 0x820)

    with pytest.raises(BootLayoutError, match="terminator"):
        bootdisk.place_core_img(bytes(core), bootdisk.DiskLayout(GiB))


def test_write_disk_puts_each_part_at_its_offset(tmp_path: Path) -> None:
    layout = bootdisk.DiskLayout(8 * MiB)
    root_fs = tmp_path / "root.ext4"
    with open(root_fs, "wb") as image:
        image.truncate(layout.partition_bytes)
        image.write(b"superblock")
        image.seek(layout.partition_bytes - 4)
        image.write(b"last")

    disk = tmp_path / "disk.raw"
    boot = b"\xb0" * 510 + b"\x55\xaa"
    bootdisk.write_disk(disk, layout, boot, b"\xc0" * 1024, root_fs)

    data = disk.read_bytes()
    assert len(data) == 8 * MiB
    assert data[:512] == boot
    assert data[512:1536] == b"\xc0" * 1024
    assert data[MiB : MiB + 10] == b"superblock"
    assert data[-4:] == b"last"


def test_write_disk_keeps_zeros_sparse(tmp_path: Path) -> None:
    layout = bootdisk.DiskLayout(64 * MiB)
    root_fs = tmp_path / "root.ext4"
    root_fs.write_bytes(bytes(layout.partition_bytes))

    disk = tmp_path / "disk.raw"
    bootdisk.write_disk(disk, layout, fake_boot_img(), bytes(1024), root_fs)

    assert os.stat(disk).st_blocks * 512 < 4 * MiB


def test_write_disk_refuses_a_filesystem_of_the_wrong_size(tmp_path: Path) -> None:
    root_fs = tmp_path / "root.ext4"
    root_fs.write_bytes(bytes(MiB))

    with pytest.raises(BootLayoutError):
        bootdisk.write_disk(
            tmp_path / "d", bootdisk.DiskLayout(8 * MiB), b"", b"", root_fs
        )


# The root tree


def fake_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    for name in ("etc/ssh", "var/lib/dbus", "boot"):
        (root / name).mkdir(parents=True)
    (root / "etc/hostname").write_text("buildhost\n")
    (root / "etc/resolv.conf").write_text("nameserver 10.0.0.1\n")
    (root / "etc/machine-id").write_text("0123456789abcdef\n")
    (root / "etc/ssh/ssh_host_ed25519_key").write_text("secret")
    (root / "etc/ssh/ssh_host_ed25519_key.pub").write_text("public")
    (root / "etc/ssh/sshd_config").write_text("")
    (root / "etc/shadow").write_text("root:*:20000:0:99999:7:::\n")
    (root / "boot/vmlinuz-6.1").write_bytes(b"kernel")
    (root / "boot/initrd.img-6.1").write_bytes(b"initrd")
    (root / "vmlinuz").symlink_to("boot/vmlinuz-6.1")
    (root / "initrd.img").symlink_to("/boot/initrd.img-6.1")
    return root


def test_scrub_removes_the_build_hosts_identity(tmp_path: Path) -> None:
    root = fake_root(tmp_path)

    rootfs.scrub_host_identity(root)

    assert not (root / "etc/hostname").exists()
    assert not (root / "etc/resolv.conf").exists()
    assert (root / "etc/machine-id").read_text() == ""
    assert sorted(p.name for p in (root / "etc/ssh").iterdir()) == ["sshd_config"]
    rootfs.check_cloud_ready(root)


def test_check_names_every_problem(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    (root / "etc/shadow").write_text("root:$y$j9T$salt$hash:20000:0:99999:7:::\n")
    (root / "boot/initrd.img-6.1").unlink()

    with pytest.raises(ImageBuildError) as raised:
        rootfs.check_cloud_ready(root)

    message = str(raised.value)
    for problem in ("initrd.img is missing", "ssh_host_ed25519_key is baked in"):
        assert problem in message
    for problem in ("machine-id is not empty", "hostname", "password is not locked"):
        assert problem in message
    assert "vmlinuz is missing" not in message


def test_early_files_become_mkdir_and_upload_hooks(tmp_path: Path) -> None:
    source = tmp_path / "fstype.conf"

    hooks = rootfs._upload_hooks({"etc/initramfs-tools/conf.d/x.conf": source})

    assert hooks == [
        '--essential-hook=mkdir -p "$1/etc/initramfs-tools/conf.d"',
        f"--essential-hook=upload {source} /etc/initramfs-tools/conf.d/x.conf",
    ]


def test_early_files_with_whitespace_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageBuildError):
        rootfs._upload_hooks({"etc/x.conf": tmp_path / "with space"})


# Running host programs


def test_failing_program_becomes_image_build_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(argv, **kwargs):
        stderr = "\n".join(f"line {n}" for n in range(100))
        raise subprocess.CalledProcessError(2, argv, "", stderr)

    monkeypatch.setattr(subprocess, "run", fail)

    with pytest.raises(ImageBuildError) as raised:
        host_tools.run(["mkfs.ext4", "x"])

    assert "mkfs.ext4 exited with status 2" in str(raised.value)
    assert "line 99" in str(raised.value)
    assert "line 50" not in str(raised.value)
    assert isinstance(raised.value.__cause__, subprocess.CalledProcessError)


def test_missing_program_names_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    def absent(argv, **kwargs):
        raise FileNotFoundError(argv[0])

    monkeypatch.setattr(subprocess, "run", absent)

    with pytest.raises(HostToolMissing, match="package mmdebstrap"):
        host_tools.run(["mmdebstrap"])


# The build-once cache


def test_cached_builds_once(tmp_path: Path) -> None:
    calls = []

    def build(work: Path) -> Path:
        calls.append(work)
        (work / "out").write_text("image")
        return work / "out"

    final = tmp_path / "cache" / "thing.qcow2"

    assert cache.cached(final, build) == final
    assert cache.cached(final, build) == final
    assert final.read_text() == "image"
    assert len(calls) == 1
    assert not calls[0].exists()


def test_failed_build_leaves_nothing_under_the_final_name(tmp_path: Path) -> None:
    def build(work: Path) -> Path:
        (work / "half").write_text("half an image")
        raise ImageBuildError("mmdebstrap died")

    final = tmp_path / "thing.qcow2"

    with pytest.raises(ImageBuildError):
        cache.cached(final, build)

    assert not final.exists()
    assert [p.name for p in tmp_path.iterdir()] == [".thing.qcow2.lock"]


def test_killed_build_is_swept_by_the_next(tmp_path: Path) -> None:
    stale = tmp_path / ".thing.qcow2.build-abc123"
    stale.mkdir()
    (stale / "disk.raw").write_bytes(b"half")

    def build(work: Path) -> Path:
        (work / "out").write_text("image")
        return work / "out"

    cache.cached(tmp_path / "thing.qcow2", build)

    assert not stale.exists()


# The KVM probe kit


NEWC_HEADER = 110  # "070701" and 13 fields of 8 hex digits


def read_newc(archive: bytes) -> dict[str, tuple[int, int, int, bytes]]:
    """name -> (mode, rdev major, rdev minor, data); checks magic and padding."""
    entries = {}
    offset = 0
    while True:
        assert archive[offset : offset + 6] == b"070701", f"no magic at {offset}"
        header = archive[offset + 6 : offset + NEWC_HEADER]
        fields = [int(header[i : i + 8], 16) for i in range(0, 104, 8)]
        mode, size, major, minor, namesize = [fields[i] for i in (1, 6, 9, 10, 11)]

        name_end = offset + NEWC_HEADER + namesize
        name = archive[offset + NEWC_HEADER : name_end - 1].decode()
        data_start = align4(name_end)
        data = archive[data_start : data_start + size]
        offset = align4(data_start + size)

        if name == "TRAILER!!!":
            assert offset == len(archive)
            return entries
        entries[name] = (mode, major, minor, data)


def align4(offset: int) -> int:
    return offset + (-offset % 4)


def test_initramfs_holds_busybox_init_and_console_nodes() -> None:
    entries = read_newc(gzip.decompress(probe_kit.initramfs(b"\x7fELF busybox")))

    mode, _, _, data = entries["init"]
    assert stat.S_ISREG(mode) and mode & 0o111
    assert data.decode() == probe_kit.INIT_SCRIPT
    assert entries["bin/busybox"][3] == b"\x7fELF busybox"
    assert stat.S_ISLNK(entries["bin/sh"][0]) and entries["bin/sh"][3] == b"busybox"
    console = entries["dev/console"]
    assert stat.S_ISCHR(console[0]) and console[1:3] == (5, 1)
    assert entries["dev/ttyS0"][1:3] == (4, 64)


def test_init_prints_the_marker_on_both_consoles_and_powers_off() -> None:
    lines = probe_kit.INIT_SCRIPT.splitlines()

    assert lines[0] == "#!/bin/sh"
    assert "echo SHOAL-PROBE-OK > /dev/console" in lines
    assert "echo SHOAL-PROBE-OK > /dev/ttyS0" in lines
    assert lines[-1] == "exec /bin/busybox poweroff -f"


def test_initramfs_is_reproducible() -> None:
    assert probe_kit.initramfs(b"bb") == probe_kit.initramfs(b"bb")


def test_kit_key_changes_with_init(monkeypatch: pytest.MonkeyPatch) -> None:
    before = probe_kit.kit_key()
    monkeypatch.setattr(probe_kit, "INIT_SCRIPT", "#!/bin/sh\necho other\n")

    assert probe_kit.kit_key() != before


def test_builder_offers_the_probe_kit() -> None:
    # shoal.control.cli imports it from the builder module.
    assert builder.probe_kit is probe_kit.probe_kit
