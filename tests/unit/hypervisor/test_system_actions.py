"""What droplet actions need from a real libvirtd and QEMU that the test
driver lacks: domain events, a live disk copy, and a running guest's CD-ROM
reopening a seed replaced under the same path. No operating system boots.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

from shoal.hypervisor import backup, lifecycle, media, storage
from shoal.hypervisor import events as hv_events
from shoal.hypervisor.errors import HypervisorError
from shoal.hypervisor.guest import seed_cdrom
from shoal.hypervisor.seed import build_seed_iso
from tests.unit.hypervisor.test_system import SEED, guest, qemu_img, site

__all__ = ["site"]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.environ.get("SHOAL_E2E") != "1",
        reason="runs against qemu:///system via deploy/test.sh (SHOAL_E2E=1)",
    ),
]

MiB = 1024**2


@pytest.fixture(scope="module", autouse=True)
def event_loop():
    hv_events.start_event_loop()


def running(site, suffix: str) -> str:
    domain = guest(site, suffix)
    lifecycle.define(site.host, domain.to_xml())
    lifecycle.start(site.host, domain.name)
    return domain.name


def test_domain_events_report_start_and_stop(site):
    seen: list[tuple[str, str]] = []
    stopped = threading.Event()

    def listener(name, kind):
        seen.append((name, kind))
        if kind == "stopped":
            stopped.set()

    source = hv_events.DomainEventSource(site.host, listener)
    source.subscribe()
    try:
        name = running(site, "ev")
        lifecycle.destroy(site.host, name)
        assert stopped.wait(10), seen
    finally:
        source.close()

    assert (name, "started") in seen
    assert (name, "stopped") in seen
    assert source.subscribe() is True, "a closed source subscribes anew"
    source.close()


def test_live_copy_of_a_running_disk_is_standalone_and_identical(site):
    name = site.name("copy")
    domain = guest(site, "copy")
    overlay = domain.disks()[0].source_file
    qemu_io = ["qemu-io", "-f", "qcow2", "-c", "write -P 0xab 1M 2M", overlay]
    subprocess.run(qemu_io, check=True, capture_output=True)
    lifecycle.define(site.host, domain.to_xml())
    lifecycle.start(site.host, name)
    target = site.root / "copy.qcow2"

    backup.copy_disk_live(site.host, name, "vda", str(target))

    info = json.loads(qemu_img("info", "--output=json", str(target)))
    assert "backing-filename" not in info
    assert info["virtual-size"] == 1024 * MiB
    qemu_img("compare", "-U", overlay, str(target))
    assert lifecycle.state(site.host, name) == "running"


def test_live_copy_of_a_stopped_domain_fails_and_leaves_no_file(site):
    name = running(site, "stopped")
    lifecycle.destroy(site.host, name)
    target = site.root / "none.qcow2"

    with pytest.raises(HypervisorError):
        backup.copy_disk_live(site.host, name, "vda", str(target))

    assert not target.exists()


def qemu_open_files(name: str) -> list[str]:
    pid = Path(f"/run/libvirt/qemu/{name}.pid").read_text().strip()
    fds = Path(f"/proc/{pid}/fd")
    return [os.readlink(fd) for fd in fds.iterdir() if fd.is_symlink()]


def test_replaced_seed_reaches_the_running_guest_drive(site):
    name = running(site, "media")
    seed = f"{name}-seed.iso"
    path = storage.volume_path(site.host, site.pool, seed)
    assert path in qemu_open_files(name)

    storage.delete_volume(site.host, site.pool, seed)
    new = build_seed_iso({**SEED, "meta-data": b"local-hostname: renamed\n"})
    storage.upload_volume(site.host, site.pool, seed, new)
    assert f"{path} (deleted)" in qemu_open_files(name)

    assert media.reload_media(site.host, name, seed_cdrom(path)) is True

    opened = qemu_open_files(name)
    assert path in opened
    assert f"{path} (deleted)" not in opened
    (cdrom,) = [
        d for d in lifecycle.describe(site.host, name).disks() if d.device == "cdrom"
    ]
    assert cdrom.source_file == path


def test_reload_media_of_a_stopped_domain_is_a_no_op(site):
    name = running(site, "media-off")
    lifecycle.destroy(site.host, name)
    path = storage.volume_path(site.host, site.pool, f"{name}-seed.iso")

    assert media.reload_media(site.host, name, seed_cdrom(path)) is False
