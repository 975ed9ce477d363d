"""The importer and its safety rules, on small real images and real qemu-img.

Every refusal is checked for what it must leave behind: nothing in the
store but what was there before.
"""

from __future__ import annotations

import os
import struct
import tarfile
import time
from pathlib import Path

import pytest

from shoal.images import qcow2_header
from shoal.images.errors import (
    CorruptImage,
    ImageTooLarge,
    UnsafeImage,
    UnsupportedFormat,
)
from shoal.images.importer import import_disk
from shoal.images.limits import ImageLimits
from tests.unit.disks import (
    MiB,
    bootable_raw,
    compressed,
    disk_as,
    guest_bytes,
    qemu_img,
)

LIMITS = ImageLimits(qemu_img_timeout_seconds=20)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    path.mkdir()
    return path


def refused(source: Path, store: Path, error, limits: ImageLimits = LIMITS) -> str:
    """Import ``source``, expect ``error``, and check the store stayed empty."""
    with pytest.raises(error) as caught:
        import_disk(source, store / "image.qcow2", limits)
    assert os.listdir(store) == []
    return str(caught.value)


@pytest.mark.parametrize("fmt", ["raw", "qcow2", "vmdk", "vdi", "vhdx"])
def test_each_accepted_format_becomes_a_standalone_qcow2(tmp_path, store, fmt):
    original = bootable_raw(tmp_path / "original.raw")
    source = disk_as(fmt, tmp_path / f"disk.{fmt}")

    imported = import_disk(source, store / "image.qcow2", LIMITS)

    assert imported.source_format == fmt
    assert imported.virtual_size == 4 * MiB
    info = qemu_img("info", "--output=json", imported.path)
    assert '"format": "qcow2"' in info and "backing" not in info
    assert guest_bytes(imported.path) == original.read_bytes()
    assert oct(imported.path.stat().st_mode & 0o777) == "0o644"
    assert os.listdir(store) == ["image.qcow2"]


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz"])
@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_compressed_disks_are_expanded_then_converted(tmp_path, store, kind, fmt):
    source = compressed(disk_as(fmt, tmp_path / f"disk.{fmt}"), kind)

    imported = import_disk(source, store / "image.qcow2", LIMITS)

    assert (imported.source_format, imported.compression) == (
        fmt,
        {"gz": "gzip", "bz2": "bzip2", "xz": "xz"}[kind],
    )
    assert guest_bytes(imported.path)[MiB : MiB + 15] == b"shoal-test-disk"


def test_format_is_read_from_the_bytes_not_the_file_name(tmp_path, store):
    source = disk_as("qcow2", tmp_path / "really-qcow2.raw")

    imported = import_disk(source, store / "image.qcow2", LIMITS)

    assert imported.source_format == "qcow2"
    assert guest_bytes(imported.path)[510:512] == b"\x55\xaa"


def test_qcow2_backed_by_a_host_file_is_refused_before_qemu_opens_it(tmp_path, store):
    # The backing file is a FIFO: whatever opened it would block until the
    # timeout, so a quick refusal shows nothing tried to read it.
    fifo = tmp_path / "host-secret"
    os.mkfifo(fifo)
    source = disk_as("qcow2", tmp_path / "evil.qcow2")
    qemu_img("rebase", "-u", "-f", "qcow2", "-b", fifo, "-F", "raw", source)
    started = time.monotonic()

    message = refused(source, store, UnsafeImage)

    assert "backing file" in message
    assert str(fifo) not in message
    assert time.monotonic() - started < 5


def test_qcow2_with_an_external_data_file_is_refused(tmp_path, store):
    source = tmp_path / "data-file.qcow2"
    qemu_img(
        "create",
        "-f",
        "qcow2",
        "-o",
        f"data_file={tmp_path / 'host.raw'},data_file_raw=on",
        source,
        "4M",
    )

    assert "external file" in refused(source, store, UnsafeImage)


def test_vmdk_naming_a_parent_disk_is_refused(tmp_path, store):
    source = disk_as("vmdk", tmp_path / "child.vmdk")
    data = bytearray(source.read_bytes())
    at = data.index(b"parentCID=ffffffff\n")
    end = data.index(b"\0", at)
    patched = data[at:end].replace(
        b"parentCID=ffffffff\n",
        b'parentCID=12345678\nparentFileNameHint="/etc/hostname"\n',
    )
    data[at : at + len(patched)] = patched
    source.write_bytes(bytes(data))

    assert "backing file" in refused(source, store, UnsafeImage)


def test_vmdk_descriptor_naming_a_host_file_is_refused(tmp_path, store):
    source = tmp_path / "descriptor.vmdk"
    source.write_text(
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
        'createType="monolithicFlat"\nRW 8 FLAT "/etc/hostname" 0\n'
    )

    assert "descriptor" in refused(source, store, UnsafeImage)


def test_truncated_qcow2_is_refused(tmp_path, store):
    source = disk_as("qcow2", tmp_path / "cut.qcow2", fill=os.urandom(MiB))
    with open(source, "r+b") as cut:
        cut.truncate(source.stat().st_size // 2)

    assert "damaged or truncated" in refused(source, store, CorruptImage)


def test_truncated_raw_is_refused(tmp_path, store):
    source = bootable_raw(tmp_path / "cut.raw")
    with open(source, "r+b") as cut:
        cut.truncate(3 * MiB + 100)

    assert "truncated" in refused(source, store, CorruptImage)


@pytest.mark.parametrize(
    "content",
    [b"hello, this is not a disk\n", b"<!DOCTYPE html><html>404</html>" * 64],
    ids=["text", "html-error-page"],
)
def test_file_that_is_not_a_disk_is_refused(tmp_path, store, content):
    source = tmp_path / "not-a-disk.img"
    source.write_bytes(content)

    assert "not a bootable disk" in refused(source, store, UnsupportedFormat)


def test_tar_archive_is_refused(tmp_path, store):
    disk = bootable_raw(tmp_path / "disk.raw")
    source = tmp_path / "disk.tar"
    with tarfile.open(source, "w") as archive:
        archive.add(disk, arcname="disk.raw")

    assert "tar" in refused(source, store, UnsupportedFormat)


def test_format_qemu_knows_but_digitalocean_does_not_is_refused(tmp_path, store):
    source = tmp_path / "disk.qed"
    qemu_img("create", "-f", "qed", source, "4M")

    assert "QED" in refused(source, store, UnsupportedFormat)


def test_decompression_bomb_stops_at_the_cap(tmp_path, store):
    bomb = tmp_path / "bomb.raw"
    bootable_raw(bomb, size=64 * MiB)
    source = compressed(bomb, "gz")
    limits = ImageLimits(decompressed_bytes=16 * MiB)

    assert "decompressed" in refused(source, store, ImageTooLarge, limits)


def test_virtual_size_over_the_limit_is_refused(tmp_path, store):
    source = tmp_path / "huge.qcow2"
    qemu_img("create", "-f", "qcow2", source, "2T")
    limits = ImageLimits(virtual_bytes=1 << 30)

    assert "limit" in refused(source, store, ImageTooLarge, limits)


def test_qemu_img_runs_under_an_address_space_limit(tmp_path, store):
    # So small that qemu-img cannot even start its threads: the limit is
    # really applied, and its failure is a refusal, not a crash.
    source = disk_as("qcow2", tmp_path / "disk.qcow2")
    limits = ImageLimits(qemu_img_memory_bytes=16 * MiB)

    assert "resource limits" in refused(source, store, CorruptImage, limits)


def test_a_failed_import_leaves_an_existing_target_untouched(tmp_path, store):
    good = import_disk(
        disk_as("raw", tmp_path / "good.raw"), store / "image.qcow2", LIMITS
    )
    before = good.path.read_bytes()
    bad = tmp_path / "bad.img"
    bad.write_bytes(b"nope")

    with pytest.raises(UnsupportedFormat):
        import_disk(bad, store / "image.qcow2", LIMITS)

    assert good.path.read_bytes() == before
    assert os.listdir(store) == ["image.qcow2"]


# The qcow2 header, parsed without qemu-img


def _header(version=3, backing=(0, 0), crypt=0, incompatible=0, extensions=()):
    head = struct.pack(">4sIQIIQI", b"QFI\xfb", version, *backing, 16, 1 << 30, crypt)
    head += bytes(72 - len(head))
    if version >= 3:
        head += struct.pack(">QQQII", incompatible, 0, 0, 4, 104)
    for kind, payload in extensions:
        head += struct.pack(">II", kind, len(payload)) + payload
        head += bytes(-len(payload) % 8)
    return head + bytes(8) + bytes(512)


def test_qcow2_header_of_a_plain_image_names_no_other_file():
    header = qcow2_header.parse(_header())

    assert not header.names_backing_file
    assert not header.names_data_file
    assert not header.encrypted


@pytest.mark.parametrize(
    "fields, flag",
    [
        ({"backing": (512, 11)}, "names_backing_file"),
        ({"version": 2, "backing": (512, 11)}, "names_backing_file"),
        ({"incompatible": 1 << 2}, "names_data_file"),
        ({"extensions": [(0x44415441, b"/etc/shadow")]}, "names_data_file"),
        ({"crypt": 2}, "encrypted"),
    ],
)
def test_qcow2_header_flags_what_would_open_or_hide_data(fields, flag):
    assert getattr(qcow2_header.parse(_header(**fields)), flag)


def test_qcow2_header_with_runaway_extensions_is_corrupt():
    head = _header()[:104] + struct.pack(">II", 0xE2792ACA, 1 << 20)

    with pytest.raises(CorruptImage):
        qcow2_header.parse(head)
