"""Snapshot files: a droplet's overlay flattened into one standalone qcow2
that QEMU, running as its own user, can read (real qemu-img, no libvirt)."""

from __future__ import annotations

import json
import subprocess

from shoal.images import capture

MiB = 1024**2


def qemu_img(*args) -> str:
    done = subprocess.run(["qemu-img", *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_flatten_writes_the_whole_chain_as_one_readable_file(tmp_path):
    base, overlay = tmp_path / "base.qcow2", tmp_path / "overlay.qcow2"
    qemu_img("create", "-f", "qcow2", base, 64 * MiB)
    qemu_img("create", "-f", "qcow2", "-F", "qcow2", "-b", base, overlay, 128 * MiB)
    for path, pattern in ((base, "0x11"), (overlay, "0x22")):
        write = ["qemu-io", "-f", "qcow2", "-c", f"write -P {pattern} 0 1M", path]
        subprocess.run(write, check=True, capture_output=True)
    snapshots = capture.ensure_dir(tmp_path / "images" / "snapshots")
    target = snapshots / "snap.qcow2"

    capture.flatten(str(overlay), target)

    info = json.loads(qemu_img("info", "--output=json", target))
    assert "backing-filename" not in info
    assert info["virtual-size"] == 128 * MiB
    qemu_img("compare", overlay, target)
    assert target.stat().st_mode & 0o777 == 0o644
    assert snapshots.stat().st_mode & 0o777 == 0o755
    assert capture.size_gigabytes(target) >= 0
