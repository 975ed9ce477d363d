"""Build Shoal's own cloud images from Debian packages, once per set of inputs.

No upstream cloud image can be downloaded where Shoal runs its tests, so it
builds one the way the distributions do: mmdebstrap a root, make it a cloud
image's root (cloud-init, no baked identity), put it in an ext4 partition of
an MBR disk that boots through its own GRUB, convert to qcow2.

The cache name carries a key over every input of the build, the text of the
files it writes included, so a changed recipe never reuses a stale image::

    /var/cache/shoal/images/debian-12-x64-<key16>.qcow2

Run ``python -m shoal.images.builder [slug]`` as root to build and print it.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from shoal.images import bootdisk, rootfs
from shoal.images.cache import cached
from shoal.images.errors import ImageBuildError, ImageError, UnknownImage
from shoal.images.host_tools import run

# The KVM probe kit has its own module; the command line imports it from here.
from shoal.images.probe_kit import probe_kit

__all__ = ["Recipe", "RECIPES", "build_image", "cache_key", "image_path", "probe_kit"]

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path("/var/cache/shoal/images")

#: Bump when the build steps change in a way the recipe and files don't show.
BUILDER_REVISION = "1"

GiB = 1 << 30


@dataclass(frozen=True)
class Recipe:
    """Everything that decides what an image contains."""

    slug: str
    suite: str
    mirrors: tuple[str, ...]
    packages: tuple[str, ...]
    variant: str = "minbase"
    root_label: str = "shoal-root"
    #: Text files a variant adds to the root, as (relative path, text) pairs.
    extra_files: tuple[tuple[str, str], ...] = ()
    kernel_args: tuple[str, ...] = ("ro", "console=tty0", "console=ttyS0,115200")
    disk_bytes: int = 2 * GiB
    # Embedded in core.img: what it takes to find the root and read grub.cfg,
    # plus what grub.cfg uses, so booting never depends on loading a module.
    grub_modules: tuple[str, ...] = (
        "biosdisk",
        "part_msdos",
        "ext2",
        "search_label",
        "normal",
        "configfile",
        "echo",
        "linux",
        "serial",
        "terminal",
    )

    @property
    def kernel_cmdline(self) -> str:
        return " ".join([f"root=LABEL={self.root_label}", *self.kernel_args])

    @property
    def layout(self) -> bootdisk.DiskLayout:
        return bootdisk.DiskLayout(self.disk_bytes)


DEBIAN_MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)

RECIPES = {
    "debian-12-x64": Recipe(
        slug="debian-12-x64",
        suite="bookworm",
        mirrors=DEBIAN_MIRRORS,
        packages=(
            "systemd-sysv",
            "linux-image-cloud-amd64",
            "grub-pc-bin",
            "cloud-init",
            "cloud-guest-utils",
            "fdisk",
            "e2fsprogs",
            "openssh-server",
            "ifupdown",
            "isc-dhcp-client",
            "iproute2",
            "netbase",
            "sudo",
            "curl",
            "ca-certificates",
            "dbus",
            # Resolves the droplet's own hostname, which cloud-init sets but
            # (with Debian's stock manage_etc_hosts: false) leaves out of
            # /etc/hosts; without it sudo warns "unable to resolve host".
            "libnss-myhostname",
        ),
    ),
}


# Debian's image with cloud-init's DigitalOcean datasource alone, as DO's own
# images are set up (they also list ConfigDrive): no NoCloud, so its droplets
# get no seed ISO and configure themselves from the metadata service
# (catalogue marks it metadata_service_only). 99- sorts after every stock file.
RECIPES["debian-12-x64-do"] = dataclasses.replace(
    RECIPES["debian-12-x64"],
    slug="debian-12-x64-do",
    extra_files=(
        (
            "etc/cloud/cloud.cfg.d/99-shoal-datasource.cfg",
            yaml.safe_dump({"datasource_list": ["DigitalOcean", "None"]}),
        ),
    ),
)


def recipe_for(slug: str) -> Recipe:
    try:
        return RECIPES[slug]
    except KeyError:
        raise UnknownImage(f"no image recipe for slug={slug!r}") from None


#: Files in place before the packages install, because their scripts read them.
EARLY_FILES = {
    # initramfs-tools probes the root device to choose the fsck it packs; in
    # the build chroot there is no device, and the initramfs gets no fsck.
    "etc/initramfs-tools/conf.d/rootfs-type.conf": "FSTYPE=ext4\n",
}


def image_files(recipe: Recipe) -> dict[str, str]:
    """The text files the build writes into the root, by relative path."""
    label = recipe.root_label
    return {
        "etc/fstab": f"LABEL={label}\t/\text4\tdefaults,errors=remount-ro\t0\t1\n",
        "etc/hosts": (
            "127.0.0.1\tlocalhost\n"
            "::1\t\tlocalhost ip6-localhost ip6-loopback\n"
            "ff02::1\t\tip6-allnodes\n"
            "ff02::2\t\tip6-allrouters\n"
        ),
        # cloud-init's Debian default, en_US.UTF-8, is not generated here, and
        # Debian's locale-gen ignores the locale cloud-init asks for; with the
        # system locale set, cc_locale finds nothing to do.
        "etc/default/locale": "LANG=C.UTF-8\n",
        "boot/grub/grub.cfg": bootdisk.grub_cfg(recipe.kernel_cmdline),
        "boot/grub/i386-pc/load.cfg": bootdisk.grub_load_cfg(label),
        **dict(recipe.extra_files),
    }


def cache_key(recipe: Recipe) -> str:
    """sha256 over the recipe, the files it writes and the builder revision."""
    recipe_fields = dataclasses.asdict(recipe)
    # Counted among "files" below; kept out of "recipe" so that an image
    # without extra files keeps the key it had before the field existed.
    del recipe_fields["extra_files"]
    inputs = {
        "builder": BUILDER_REVISION,
        "recipe": recipe_fields,
        "files": {**EARLY_FILES, **image_files(recipe)},
    }
    encoded = json.dumps(inputs, sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()


def image_path(recipe: Recipe, cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    return cache_dir / f"{recipe.slug}-{cache_key(recipe)[:16]}.qcow2"


def build_image(
    slug: str = "debian-12-x64", cache_dir: Path = DEFAULT_CACHE_DIR
) -> Path:
    """Return the qcow2 base image for ``slug``, building it first if absent.

    Needs root (mmdebstrap --mode=root, chroot) and about two minutes.
    """
    recipe = recipe_for(slug)
    return cached(
        image_path(recipe, cache_dir), lambda work: _timed_build(recipe, work)
    )


def _timed_build(recipe: Recipe, work: Path) -> Path:
    started = time.monotonic()
    image = _build(recipe, work)
    log.info(
        "image built slug=%s key=%s seconds=%.1f bytes=%d",
        recipe.slug,
        cache_key(recipe)[:16],
        time.monotonic() - started,
        image.stat().st_size,
    )
    return image


def _build(recipe: Recipe, work: Path) -> Path:
    root = _make_root(recipe, work)
    disk = _make_disk(recipe, root, work)
    return _to_qcow2(disk, work / "image.qcow2")


def _make_root(recipe: Recipe, work: Path) -> Path:
    if os.geteuid() != 0:
        raise ImageBuildError("building an image needs root (mmdebstrap, chroot)")

    early = work / "early"
    rootfs.write_files(early, EARLY_FILES)

    root = work / "rootfs"
    rootfs.bootstrap(
        root,
        suite=recipe.suite,
        variant=recipe.variant,
        packages=recipe.packages,
        mirrors=recipe.mirrors,
        early_files={name: early / name for name in EARLY_FILES},
    )

    rootfs.scrub_host_identity(root)
    rootfs.write_files(root, image_files(recipe))
    rootfs.install_grub_modules(root)
    rootfs.check_cloud_ready(root)
    return root


def _make_disk(recipe: Recipe, root: Path, work: Path) -> Path:
    layout = recipe.layout
    boot_img = (root / rootfs.GRUB_PLATFORM_DIR / "boot.img").read_bytes()
    boot = bootdisk.boot_sector(boot_img, layout, disk_id=_disk_id(recipe))
    core_img = bootdisk.make_core_img(root, recipe.grub_modules)
    core = bootdisk.place_core_img(core_img, layout)

    root_fs = work / "root.ext4"
    rootfs.make_ext4(root, root_fs, layout.partition_bytes, recipe.root_label)
    shutil.rmtree(root)

    disk = work / "disk.raw"
    bootdisk.write_disk(disk, layout, boot, core, root_fs)
    root_fs.unlink()
    return disk


def _disk_id(recipe: Recipe) -> int:
    # Same inputs, same MBR disk id (and PARTUUIDs): every droplet's copy of
    # an image shares them, as copies of any cloud image do.
    return int(cache_key(recipe)[:8], 16)


def _to_qcow2(raw: Path, qcow2: Path) -> Path:
    run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow2])

    # The base image is shared read-only by every droplet's overlay.
    os.chmod(qcow2, 0o644)
    return qcow2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shoal.images.builder",
        description="Build (or find in the cache) a Shoal cloud image.",
    )
    parser.add_argument("slug", nargs="?", default="debian-12-x64", choices=RECIPES)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    try:
        print(build_image(args.slug, args.cache_dir))
    except ImageError as exc:
        log.error("image build failed slug=%s: %s", args.slug, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
