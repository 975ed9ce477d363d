"""The root filesystem: bootstrap it with mmdebstrap, make it a cloud image's root.

A cloud image carries no identity of the machine that built it: no hostname,
no resolver, no machine-id, no SSH host keys, no root password. cloud-init and
systemd create each of them on the guest's first boot.

Every step works on a plain directory as root, without mount(2) or loop
devices, which CI containers often forbid.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from shoal.images.errors import ImageBuildError
from shoal.images.host_tools import run

log = logging.getLogger(__name__)

# Files mmdebstrap copies from the build host into the chroot.
HOST_FILES = ("etc/hostname", "etc/resolv.conf")

# The symlinks grub.cfg boots, kept current by the kernel package.
BOOT_LINKS = ("vmlinuz", "initrd.img")

GRUB_PLATFORM_DIR = "usr/lib/grub/i386-pc"
GRUB_BOOT_DIR = "boot/grub/i386-pc"

# GRUB 2.06 (bookworm's) cannot read ext4 with these incompat features. Debian
# 12's mke2fs.conf leaves them off, but upstream e2fsprogs 1.47 turns
# orphan_file on by default. Drop this when the image carries GRUB 2.12.
EXT4_FEATURES = "^orphan_file,^metadata_csum_seed"


def bootstrap(
    target: Path,
    *,
    suite: str,
    variant: str,
    packages: Sequence[str],
    mirrors: Sequence[str],
    early_files: Mapping[str, Path],
) -> None:
    """Install ``suite`` into the empty directory ``target``.

    ``early_files`` (target path relative to the root: file to upload) go in
    after the essential packages, before the rest: configuration that package
    scripts read while they install, such as initramfs-tools' settings.

    ``--skip=chroot/mount`` keeps mmdebstrap from mounting /proc, /sys and /dev:
    the maintainer scripts of these packages run without them (update-initramfs
    included), the build runs where mount(2) is not allowed, and a killed
    build leaves no host /dev or /proc mounted in the temp dir that the next
    build deletes.
    """
    run(
        [
            "mmdebstrap",
            "--mode=root",
            f"--variant={variant}",
            "--format=directory",
            "--skip=chroot/mount",
            *_upload_hooks(early_files),
            f"--include={','.join(packages)}",
            suite,
            target,
            *mirrors,
        ]
    )


def _upload_hooks(files: Mapping[str, Path]) -> list[str]:
    hooks = []
    for relative, source in files.items():
        # mmdebstrap splits special hooks on whitespace.
        if any(char.isspace() for char in f"{relative}{source}"):
            raise ImageBuildError(f"cannot upload a path with whitespace: {source}")

        parent = PurePosixPath("/", relative).parent
        hooks.append(f'--essential-hook=mkdir -p "$1{parent}"')
        hooks.append(f"--essential-hook=upload {source} /{relative}")
    return hooks


def scrub_host_identity(root: Path) -> None:
    """Remove what ties the tree to the build host or to one machine."""
    for relative in HOST_FILES:
        (root / relative).unlink(missing_ok=True)

    # openssh-server's postinst generated these; every droplet must get its own.
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()

    # Empty, not absent: systemd then treats the boot as the first one.
    (root / "etc/machine-id").write_text("")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)


def write_files(root: Path, files: Mapping[str, str]) -> None:
    """Write each text file, given by its path relative to ``root``."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def install_grub_modules(root: Path) -> None:
    """Copy GRUB's modules to /boot/grub/i386-pc, as grub-install does.

    core.img loads modules from there, so they must stay the version it was
    made from even after the guest upgrades grub-pc-bin under /usr/lib.
    """
    source = root / GRUB_PLATFORM_DIR
    target = root / GRUB_BOOT_DIR
    target.mkdir(parents=True, exist_ok=True)
    for pattern in ("*.mod", "*.lst"):
        for module in source.glob(pattern):
            shutil.copy2(module, target / module.name)


def check_cloud_ready(root: Path) -> None:
    """Fail the build if the tree would not boot or would leak an identity."""
    problems = [
        f"/{link} is missing" for link in BOOT_LINKS if not _link_ok(root, link)
    ]
    problems += [
        f"{key.name} is baked in" for key in (root / "etc/ssh").glob("ssh_host_*")
    ]
    if (root / "etc/machine-id").read_text():
        problems.append("/etc/machine-id is not empty")
    if (root / "etc/hostname").exists():
        problems.append("/etc/hostname is baked in")
    if _root_password_usable(root):
        problems.append("root's password is not locked")

    if problems:
        raise ImageBuildError("root filesystem not cloud-ready: " + "; ".join(problems))


def _link_ok(root: Path, link: str) -> bool:
    # Resolve the kernel package's symlink inside root, never on the host.
    path = root / link
    if not path.is_symlink():
        return False

    target = path.readlink()
    if target.is_absolute():
        target = root / target.relative_to("/")
    else:
        target = path.parent / target
    return target.is_file()


def _root_password_usable(root: Path) -> bool:
    for line in (root / "etc/shadow").read_text().splitlines():
        name, password, *_ = line.split(":")
        if name == "root":
            return not password.startswith(("*", "!"))
    return False


def make_ext4(root: Path, image: Path, size: int, label: str) -> None:
    """Create a ``size``-byte ext4 image holding the tree at ``root``.

    ``mkfs.ext4 -d`` copies the tree in, ownership and modes included, so no
    mount is needed; e2fsck then checks the result before it goes on a disk.
    """
    with open(image, "wb") as sparse:
        sparse.truncate(size)

    run(["mkfs.ext4", "-q", "-F", "-L", label, "-O", EXT4_FEATURES, "-d", root, image])
    run(["e2fsck", "-f", "-n", image])
    log.debug("root filesystem made image=%s label=%s", image, label)
