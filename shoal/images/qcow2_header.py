"""The qcow2 header fields that decide whether QEMU would open other files.

Read here, in Python, before qemu-img ever opens the image: a header that
names a backing file or an external data file makes QEMU read that host
file (``/etc/shadow``, a device, a FIFO that hangs the reader), and the
guest would see its bytes. Layout from QEMU's docs/interop/qcow2.txt.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from shoal.images.errors import CorruptImage

MAGIC = b"QFI\xfb"

# magic, version, backing_file_offset, backing_file_size, cluster_bits,
# size, crypt_method: the fields every version has.
V2_FIELDS = struct.Struct(">4sIQIIQI")
V2_LENGTH = 72
# incompatible, compatible and autoclear features, refcount_order,
# header_length: version 3 only, at offset 72.
V3_FIELDS = struct.Struct(">QQQII")

INCOMPAT_EXTERNAL_DATA_FILE = 1 << 2
EXTENSION = struct.Struct(">II")
EXT_END = 0
EXT_DATA_FILE_NAME = 0x44415441
EXT_FULL_DISK_ENCRYPTION = 0x0537BE77


@dataclass(frozen=True)
class Qcow2Header:
    version: int
    backing_file_offset: int
    backing_file_size: int
    virtual_size: int
    crypt_method: int
    incompatible_features: int
    extensions: tuple[int, ...]

    @property
    def names_backing_file(self) -> bool:
        return self.backing_file_offset != 0 or self.backing_file_size != 0

    @property
    def names_data_file(self) -> bool:
        return bool(
            self.incompatible_features & INCOMPAT_EXTERNAL_DATA_FILE
            or EXT_DATA_FILE_NAME in self.extensions
        )

    @property
    def encrypted(self) -> bool:
        return self.crypt_method != 0 or EXT_FULL_DISK_ENCRYPTION in self.extensions


def parse(head: bytes) -> Qcow2Header:
    """The header at the start of ``head`` (the file's first bytes)."""
    if len(head) < V2_LENGTH or not head.startswith(MAGIC):
        raise CorruptImage("The qcow2 header is truncated.")

    _, version, backing_offset, backing_size, _, size, crypt = V2_FIELDS.unpack_from(
        head
    )
    incompatible, header_length = 0, V2_LENGTH
    if version >= 3:
        if len(head) < V2_LENGTH + V3_FIELDS.size:
            raise CorruptImage("The qcow2 header is truncated.")
        incompatible, _, _, _, header_length = V3_FIELDS.unpack_from(head, V2_LENGTH)

    return Qcow2Header(
        version=version,
        backing_file_offset=backing_offset,
        backing_file_size=backing_size,
        virtual_size=size,
        crypt_method=crypt,
        incompatible_features=incompatible,
        extensions=tuple(_extension_types(head, header_length)),
    )


def _extension_types(head: bytes, offset: int) -> list[int]:
    """The types of the header extensions that follow the header.

    They end with an end marker; one running past the bytes we read (the
    first cluster at least, 512 bytes and up) is corrupt, and the image
    with it.
    """
    found = []
    while True:
        if offset + EXTENSION.size > len(head):
            raise CorruptImage("The qcow2 header extensions are truncated.")
        kind, length = EXTENSION.unpack_from(head, offset)
        if kind == EXT_END:
            return found
        found.append(kind)
        offset += EXTENSION.size + length + (-length % 8)
