"""How much an image may cost the host: bytes, seconds, memory.

Every image Shoal fetches or imports is untrusted input until it is a
checked qcow2. These limits bound what one can take on the way there; the
control plane fills them from its settings.
"""

from __future__ import annotations

from dataclasses import dataclass

GiB = 1 << 30


@dataclass(frozen=True)
class ImageLimits:
    #: Bytes a download may bring; DigitalOcean's limit is 100 GB decompressed.
    download_bytes: int = 100 * GiB
    #: Bytes a gzip, bzip2 or xz file may expand to (decompression bombs).
    decompressed_bytes: int = 100 * GiB
    #: The disk size the image declares; a tiny qcow2 can claim exabytes.
    virtual_bytes: int = 256 * GiB
    #: A download that receives nothing for this long has stalled.
    stall_seconds: float = 60.0
    #: Fresh connections a download tries after one drops or stalls.
    download_retries: int = 3
    #: Address space of one qemu-img run. Its threads reserve their stacks
    #: and arenas up front: 1 GiB was measured to be enough for a convert.
    qemu_img_memory_bytes: int = 2 * GiB
    #: CPU seconds of one qemu-img run (RLIMIT_CPU).
    qemu_img_cpu_seconds: int = 600
    #: Wall-clock seconds of one qemu-img run.
    qemu_img_timeout_seconds: float = 1800.0
