"""The NoCloud seed ISO (field reports B08, B10)."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
from pathlib import Path

import pycdlib
import pytest

from shoal.hypervisor.errors import SeedImageInvalid
from shoal.hypervisor.seed import build_seed_iso, check_seed_iso, read_seed_iso

META = b"instance-id: '7'\nlocal-hostname: web\n"
NETWORK = (
    b"version: 2\nethernets:\n  eth0:\n"
    b"    match:\n      macaddress: 52:54:00:00:00:07\n"
)
MULTIPART = (
    b'Content-Type: multipart/mixed; boundary="==BOUNDARY=="\r\n'
    b"MIME-Version: 1.0\r\n\r\n"
    b"--==BOUNDARY==\r\n"
    b'Content-Type: text/cloud-config; charset="us-ascii"\r\n\r\n'
    b"#cloud-config\nwrite_files:\n- path: /etc/part-a\n  content: a\n\r\n"
    b"--==BOUNDARY==\r\n"
    b'Content-Type: text/x-shellscript; charset="us-ascii"\r\n\r\n'
    b"#!/bin/sh\ntouch /etc/part-b\n\r\n"
    b"--==BOUNDARY==--\r\n"
)


def seed(user_data: bytes = b"", **extra: bytes) -> dict[str, bytes]:
    return {"user-data": user_data, "meta-data": META, **extra}


@pytest.mark.parametrize(
    "user_data",
    [
        MULTIPART,
        gzip.compress(b"#!/bin/sh\necho gzipped > /etc/whoami\n"),
        b"#!/bin/sh\r\necho crlf\r\n",
        bytes(range(256)) * 280,  # 70 KiB of every byte value
    ],
    ids=["multipart", "gzip", "crlf", "70k-binary"],
)
def test_user_data_reads_back_byte_for_byte(user_data: bytes) -> None:
    files = seed(user_data, **{"network-config": NETWORK})

    iso = build_seed_iso(files)

    assert read_seed_iso(iso, namespace="rock_ridge") == files
    assert read_seed_iso(iso, namespace="joliet") == files


def test_empty_user_data_is_present() -> None:
    iso = build_seed_iso(seed(b""))

    assert read_seed_iso(iso) == {"user-data": b"", "meta-data": META}


def test_names_and_volume_ids_through_pycdlib() -> None:
    data = build_seed_iso(seed(b"#cloud-config\n", **{"network-config": NETWORK}))
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))

    def files(**path: str) -> list[bytes]:
        return sorted(
            c.file_identifier() for c in iso.list_children(**path) if c.is_file()
        )

    rock_ridge = sorted(
        c.rock_ridge.name() for c in iso.list_children(rr_path="/") if c.is_file()
    )
    assert rock_ridge == [b"meta-data", b"network-config", b"user-data"]
    assert files(joliet_path="/") == [
        n.encode("utf-16-be") for n in ("meta-data", "network-config", "user-data")
    ]
    assert files(iso_path="/") == [b"METADATA.;1", b"NETWORKC.;1", b"USERDATA.;1"]
    assert iso.pvd.volume_identifier.rstrip() == b"cidata"
    assert iso.joliet_vd.volume_identifier.decode("utf-16-be").rstrip() == "cidata"
    assert iso.rock_ridge == "1.09"
    iso.close()


@pytest.mark.skipif(shutil.which("isoinfo") is None, reason="isoinfo not installed")
def test_isoinfo_reads_the_same_names(tmp_path: Path) -> None:
    # A second, independent reader: the one field report B08 tells us to try.
    path = tmp_path / "seed.iso"
    path.write_bytes(build_seed_iso(seed(b"x", **{"network-config": NETWORK})))

    def isoinfo(*args: str) -> str:
        return subprocess.run(
            ["isoinfo", *args, "-i", str(path)], capture_output=True, text=True
        ).stdout

    assert "Volume id: cidata" in isoinfo("-d")
    for listing in (isoinfo("-R", "-l"), isoinfo("-J", "-l")):
        # File lines start with their mode, e.g. "-r--r--r--"; the name is last.
        files = [line for line in listing.splitlines() if line.startswith("-")]
        names = {line.split()[-1] for line in files}
        assert names == {"user-data", "meta-data", "network-config"}, listing


@pytest.mark.parametrize(
    "files",
    [
        {"meta-data": META},
        {"user-data": b""},
        {"user-data": b"", "meta-data": META, "userdata": b""},
    ],
    ids=["no-user-data", "no-meta-data", "unknown-name"],
)
def test_refuses_incomplete_or_unknown_files(files: dict[str, bytes]) -> None:
    with pytest.raises(ValueError):
        build_seed_iso(files)


def test_truncated_image_is_invalid() -> None:
    data = build_seed_iso(seed(b"#cloud-config\n"))

    for size in (100, len(data) // 2, len(data) - 2048):
        with pytest.raises(SeedImageInvalid):
            check_seed_iso(data[:size], seed(b"#cloud-config\n"))


def test_other_contents_are_invalid() -> None:
    data = build_seed_iso(seed(b"#cloud-config\n"))

    with pytest.raises(SeedImageInvalid, match="other files"):
        check_seed_iso(data, seed(b"#cloud-config\nhostname: other\n"))


def test_wrong_volume_id_is_invalid() -> None:
    iso = pycdlib.PyCdlib()
    iso.new(vol_ident="config-2", rock_ridge="1.09", joliet=3)
    for iso_name, name in (("USERDATA.;1", "user-data"), ("METADATA.;1", "meta-data")):
        iso.add_fp(
            io.BytesIO(b""), 0, "/" + iso_name, rr_name=name, joliet_path="/" + name
        )
    out = io.BytesIO()
    iso.write_fp(out)

    with pytest.raises(SeedImageInvalid, match="volume id"):
        read_seed_iso(out.getvalue())
