"""The NoCloud seed ISO: writing it, and reading it back the way guests do.

cloud-init recognises a seed by its volume id `cidata` and finds the files by
their Rock Ridge or Joliet names, which must be exactly `user-data`,
`meta-data` and, optionally, `network-config` and `vendor-data`. A seed missing
either required file, with other names, or cut short is silently ignored and
the guest boots unconfigured (field report B08). So every ISO built here is read
back through both name spaces and compared byte for byte before it is returned.
What goes into the files is not decided here.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator, Mapping

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from shoal.hypervisor.errors import SeedImageInvalid

log = logging.getLogger(__name__)

VOLUME_ID = "cidata"
REQUIRED_FILES = ("user-data", "meta-data")

# ISO9660 level 1 allows only 8.3 upper-case names; the real names live in the
# Rock Ridge and Joliet records. These are what genisoimage would pick too.
ISO9660_NAMES = {
    "user-data": "USERDATA.;1",
    "meta-data": "METADATA.;1",
    "network-config": "NETWORKC.;1",
    "vendor-data": "VENDORDA.;1",
}

NAMESPACES = ("rock_ridge", "joliet")


def build_seed_iso(files: Mapping[str, bytes]) -> bytes:
    """The ISO image holding `files` (name -> contents), checked by reading back."""
    _check_names(files)

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=1, vol_ident=VOLUME_ID, rock_ridge="1.09", joliet=3)
    for name, content in files.items():
        iso.add_fp(
            io.BytesIO(content),
            len(content),
            iso_path="/" + ISO9660_NAMES[name],
            rr_name=name,
            joliet_path="/" + name,
        )
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()

    data = out.getvalue()
    check_seed_iso(data, files)
    log.debug("seed iso built files=%s bytes=%d", ",".join(files), len(data))
    return data


def check_seed_iso(data: bytes, files: Mapping[str, bytes]) -> None:
    """Raise `SeedImageInvalid` unless `data` holds exactly `files` in each name
    space (Rock Ridge, Joliet, plain ISO9660) under volume id `cidata`."""
    for namespace in NAMESPACES:
        found = read_seed_iso(data, namespace=namespace)
        if found != dict(files):
            raise SeedImageInvalid(
                f"seed iso reads back other files via {namespace}: "
                f"{sorted(found)} (expected {sorted(files)}), or other contents"
            )

    with _opened(data) as iso:
        plain = sorted(_plain_names(iso))
    if plain != sorted(ISO9660_NAMES[name] for name in files):
        raise SeedImageInvalid(f"seed iso has ISO9660 names {plain}")


def read_seed_iso(data: bytes, namespace: str = "rock_ridge") -> dict[str, bytes]:
    """The files of a seed ISO by name, read through `namespace`.

    Checks the volume id and that the name space exists; `namespace` is
    `rock_ridge` (what Linux mounts) or `joliet` (what Windows reads).
    """
    if namespace not in NAMESPACES:
        raise ValueError(f"namespace must be one of {NAMESPACES}")

    with _opened(data) as iso:
        _check_volume_ids(iso)
        if namespace == "rock_ridge" and not iso.has_rock_ridge():
            raise SeedImageInvalid("seed iso has no Rock Ridge records")
        if namespace == "joliet" and not iso.has_joliet():
            raise SeedImageInvalid("seed iso has no Joliet records")

        names = _names(iso, namespace)
        return {name: _read(iso, namespace, name) for name in names}


@contextlib.contextmanager
def _opened(data: bytes) -> Iterator[pycdlib.PyCdlib]:
    """The ISO opened with pycdlib; pycdlib failures become `SeedImageInvalid`."""
    iso = pycdlib.PyCdlib()
    try:
        iso.open_fp(io.BytesIO(data))
        try:
            yield iso
        finally:
            iso.close()
    except PyCdlibException as err:
        raise SeedImageInvalid(f"seed iso does not read: {err}") from err


def _check_names(files: Mapping[str, bytes]) -> None:
    missing = [name for name in REQUIRED_FILES if name not in files]
    unknown = [name for name in files if name not in ISO9660_NAMES]
    if missing or unknown:
        raise ValueError(
            f"seed files: missing {missing}, unknown {unknown}; "
            f"allowed {sorted(ISO9660_NAMES)}"
        )


def _check_volume_ids(iso: pycdlib.PyCdlib) -> None:
    # blkid may report the Joliet label rather than the primary one, so both
    # must say `cidata`.
    primary = iso.pvd.volume_identifier.decode("ascii").rstrip()
    if primary != VOLUME_ID:
        raise SeedImageInvalid(f"seed iso volume id is {primary!r}, not {VOLUME_ID!r}")

    if iso.has_joliet():
        joliet = iso.joliet_vd.volume_identifier.decode("utf-16-be").rstrip()
        if joliet != VOLUME_ID:
            raise SeedImageInvalid(f"seed iso Joliet volume id is {joliet!r}")


def _names(iso: pycdlib.PyCdlib, namespace: str) -> list[str]:
    if namespace == "rock_ridge":
        children = iso.list_children(rr_path="/")
        return [c.rock_ridge.name().decode() for c in children if c.is_file()]
    children = iso.list_children(joliet_path="/")
    return [c.file_identifier().decode("utf-16-be") for c in children if c.is_file()]


def _plain_names(iso: pycdlib.PyCdlib) -> list[str]:
    children = iso.list_children(iso_path="/")
    return [c.file_identifier().decode("ascii") for c in children if c.is_file()]


def _read(iso: pycdlib.PyCdlib, namespace: str, name: str) -> bytes:
    out = io.BytesIO()
    if namespace == "rock_ridge":
        iso.get_file_from_iso_fp(out, rr_path="/" + name)
    else:
        iso.get_file_from_iso_fp(out, joliet_path="/" + name)
    return out.getvalue()
