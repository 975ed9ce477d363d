"""The KVM probe kit: a Debian cloud kernel and a busybox initramfs that says OK.

Some hosts expose ``/dev/kvm`` yet hang every Linux guest right after the
bootloader. The probe runner boots this kit once per virt type; only a virt
type whose console shows ``SHOAL-PROBE-OK`` boots real guests. The kernel is
the one the images run (linux-image-cloud-amd64), so the probe tests what a
droplet will meet; the initramfs is a few hundred KiB and reaches its /init
in about 2-3 s under TCG.

The kit is cached under a key over its inputs (package names, /init, the
initramfs layout), not over package versions: once built it stays the same
kernel until those inputs change. The packages come through the host's apt
(``apt-get download``), so its package lists must be current.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import logging
import shutil
import stat
import sys
import time
from pathlib import Path

from shoal.images.cache import cached
from shoal.images.errors import ImageBuildError, ImageError
from shoal.images.host_tools import run

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path("/var/cache/shoal/probe")

#: Bump when the build steps change in a way the inputs below don't show.
KIT_REVISION = "1"

MARKER = "SHOAL-PROBE-OK"

KERNEL_PACKAGE = "linux-image-cloud-amd64"
BUSYBOX_PACKAGE = "busybox-static"

# /init runs from busybox's sh. It writes the marker to both consoles so the
# probe sees it whichever console= the runner passes, then powers off so that
# QEMU (with -no-reboot) exits instead of idling until its timeout.
INIT_SCRIPT = f"""#!/bin/sh
echo {MARKER} > /dev/console
echo {MARKER} > /dev/ttyS0
exec /bin/busybox poweroff -f
"""

# The kernel opens /dev/console before /init runs, and nothing mounts devtmpfs
# in this initramfs, so the nodes /init writes to are in the archive itself.
DEVICE_NODES = {"dev/console": (5, 1), "dev/ttyS0": (4, 64), "dev/null": (1, 3)}


def kit_key() -> str:
    """sha256 over everything that decides the kit's content."""
    inputs = {
        "revision": KIT_REVISION,
        "packages": [KERNEL_PACKAGE, BUSYBOX_PACKAGE],
        "init": INIT_SCRIPT,
        "devices": DEVICE_NODES,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def probe_kit(cache_dir: Path = DEFAULT_CACHE_DIR) -> tuple[Path, Path]:
    """Return (kernel, initrd) of the probe kit, building it first if absent.

    Boot it with ``-kernel K -initrd I -append 'console=ttyS0 panic=-1'
    -no-reboot``: the console shows ``SHOAL-PROBE-OK`` and QEMU exits.
    """
    kit = cached(cache_dir / f"kit-{kit_key()[:16]}", _timed_build)
    return kit / "vmlinuz", kit / "initrd.img"


def _timed_build(work: Path) -> Path:
    started = time.monotonic()
    kit = _build(work)
    log.info(
        "probe kit built key=%s seconds=%.1f",
        kit_key()[:16],
        time.monotonic() - started,
    )
    return kit


def _build(work: Path) -> Path:
    debs = work / "debs"
    debs.mkdir()
    kernel_deb = _download(_kernel_package(), debs)
    busybox_deb = _download(BUSYBOX_PACKAGE, debs)

    kit = work / "kit"
    kit.mkdir(mode=0o755)
    shutil.copyfile(_extract_one(kernel_deb, "boot/vmlinuz-*"), kit / "vmlinuz")

    busybox = _extract_one(busybox_deb, "*bin/busybox").read_bytes()
    (kit / "initrd.img").write_bytes(initramfs(busybox))
    return kit


def _kernel_package() -> str:
    # The metapackage is empty; the kernel is in the package it depends on.
    for line in run(["apt-cache", "depends", KERNEL_PACKAGE]).splitlines():
        kind, _, name = line.strip().partition(": ")
        if kind == "Depends" and name.startswith("linux-image-"):
            return name
    raise ImageBuildError(
        f"apt knows no kernel behind {KERNEL_PACKAGE}; run apt-get update"
    )


def _download(package: str, target: Path) -> Path:
    run(["apt-get", "download", package], cwd=target)
    found = sorted(target.glob(f"{package}_*.deb"))
    if len(found) != 1:
        raise ImageBuildError(f"apt-get download {package} left {len(found)} .debs")

    log.debug("downloaded deb=%s", found[0].name)
    return found[0]


def _extract_one(deb: Path, pattern: str) -> Path:
    tree = deb.with_suffix("")
    run(["dpkg-deb", "-x", deb, tree])
    found = [path for path in tree.glob(pattern) if path.is_file()]
    if len(found) != 1:
        raise ImageBuildError(f"{deb.name} holds {len(found)} files like {pattern}")
    return found[0]


def initramfs(busybox: bytes) -> bytes:
    """A gzipped newc cpio archive: busybox, /init and the console nodes."""
    archive = NewcArchive()
    for directory in ("bin", "dev", "proc", "sys"):
        archive.directory(directory)
    for path, (major, minor) in DEVICE_NODES.items():
        archive.char_device(path, major, minor)

    archive.file("bin/busybox", busybox, mode=0o755)
    archive.symlink("bin/sh", "busybox")
    archive.file("init", INIT_SCRIPT.encode(), mode=0o755)

    # mtime=0 keeps the output identical for identical inputs.
    return gzip.compress(archive.finish(), mtime=0)


class NewcArchive:
    """A writer of the cpio "newc" format the kernel unpacks as initramfs.

    Written here rather than with cpio(1) so that device nodes need no
    mknod, the build needs no cpio package, and the output is reproducible.
    """

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.inode = 0

    def directory(self, path: str) -> None:
        self._entry(path, stat.S_IFDIR | 0o755, b"", nlink=2)

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(path, stat.S_IFREG | mode, data)

    def symlink(self, path: str, target: str) -> None:
        self._entry(path, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, path: str, major: int, minor: int) -> None:
        self._entry(path, stat.S_IFCHR | 0o600, b"", rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0, b"", nlink=1)
        return self.buffer.getvalue()

    def _entry(
        self,
        path: str,
        mode: int,
        data: bytes,
        nlink: int = 1,
        rdev: tuple[int, int] = (0, 0),
    ) -> None:
        self.inode += 1
        name = path.encode() + b"\0"
        fields = [self.inode, mode, 0, 0, nlink, 0, len(data), 0, 0, *rdev]
        header = b"070701" + b"".join(b"%08X" % value for value in fields)
        header += b"%08X%08X" % (len(name), 0)

        self._padded(header + name)
        self._padded(data)

    def _padded(self, chunk: bytes) -> None:
        # newc aligns every header+name and every file body to 4 bytes.
        self.buffer.write(chunk)
        self.buffer.write(b"\0" * (-self.buffer.tell() % 4))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shoal.images.probe_kit",
        description="Build (or find in the cache) the KVM probe kit.",
    )
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    try:
        kernel, initrd = probe_kit(args.cache_dir)
    except ImageError as exc:
        log.error("probe kit build failed: %s", exc)
        return 1

    print(kernel)
    print(initrd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
