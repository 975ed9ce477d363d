"""The hypervisor layer against a real libvirtd and QEMU (`qemu:///system`).

These cover what libvirt's test driver cannot: real qcow2 overlays, uploads,
resizes, QEMU processes sharing a base image, undefine with a managed-save
image, snapshots and UEFI nvram, and DHCP reservations in a running network.
They boot no operating system: SeaBIOS or OVMF finding nothing to boot is
enough for a running domain. Every object is named `shoaltest-*` and removed.

Run by deploy/test.sh (SHOAL_E2E=1), inside the network namespace it makes,
because the network tests create a bridge.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from shoal.hypervisor import lifecycle, network, storage
from shoal.hypervisor.connection import Host
from shoal.hypervisor.errors import OperationFailed
from shoal.hypervisor.guest import GuestSpec, build_domain
from shoal.hypervisor.seed import build_seed_iso, read_seed_iso
from shoal.hypervisor.xml import Domain, Interface

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.environ.get("SHOAL_E2E") != "1",
        reason="runs against qemu:///system via deploy/test.sh (SHOAL_E2E=1)",
    ),
]

MiB = 1024**2
GiB = 1024**3
SEED = {"user-data": b"#cloud-config\n", "meta-data": b"instance-id: '7'\n"}


@dataclass
class Site:
    """A pool and a base image outside it, as Shoal lays them out."""

    host: Host
    root: Path
    pool: str
    base: Path
    consoles: Path
    prefix: str

    def name(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"


@pytest.fixture
def site(system_host: Host, unique: str) -> Iterator[Site]:
    # mkdtemp makes a 0700 directory; QEMU runs as libvirt-qemu and must be
    # able to reach the base image, so every directory on the way is 0755.
    root = Path(tempfile.mkdtemp(prefix="shoaltest-", dir="/var/tmp"))
    root.chmod(0o755)
    images, consoles = root / "images", root / "consoles"
    images.mkdir(mode=0o755)
    consoles.mkdir(mode=0o755)
    base = images / "base.qcow2"
    qemu_img("create", "-f", "qcow2", str(base), str(64 * MiB))

    pool = f"shoaltest-{unique}"
    storage.ensure_pool(system_host, pool, str(root / "pool"))
    yield Site(system_host, root, pool, base, consoles, f"shoaltest-{unique}")

    for domain in lifecycle.list_domains(system_host, prefix=f"shoaltest-{unique}"):
        lifecycle.remove_domain(system_host, domain)
    for volume in storage.list_volumes(system_host, pool):
        storage.delete_volume(system_host, pool, volume)
    storage.remove_pool(system_host, pool)
    shutil.rmtree(root)


def qemu_img(*args: str) -> str:
    done = subprocess.run(["qemu-img", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def guest(site: Site, suffix: str, net: str | None = None) -> Domain:
    """A droplet-like domain on its own overlay and seed; with no network given,
    without its NIC (a NIC needs a running libvirt network)."""
    name = site.name(suffix)
    disk = storage.create_overlay(
        site.host, site.pool, f"{name}.qcow2", str(site.base), GiB
    )
    seed = storage.upload_volume(
        site.host, site.pool, f"{name}-seed.iso", build_seed_iso(SEED)
    )
    domain = build_domain(
        GuestSpec(
            name=name,
            uuid=None,
            vcpus=1,
            memory_mib=128,
            virt_type="qemu",
            disk_path=disk,
            seed_path=seed,
            mac="52:54:00:5e:00:07",
            network=net or "none",
            smbios_serial="7",
            console_log=str(site.consoles / f"{name}.log"),
        )
    )
    if net is None:
        domain.devices = [d for d in domain.devices if not isinstance(d, Interface)]
    return domain


def test_overlay_records_backing_format_and_size(site: Site) -> None:
    path = storage.create_overlay(
        site.host, site.pool, "shoaltest-o.qcow2", str(site.base), 25 * GiB
    )

    info = json.loads(qemu_img("info", "--output=json", path))
    assert info["format"] == "qcow2"
    assert info["virtual-size"] == 25 * GiB
    assert info["backing-filename"] == str(site.base)
    assert info["backing-filename-format"] == "qcow2"
    assert "backing file format: qcow2" in qemu_img("info", "--backing-chain", path)


def test_upload_writes_exact_bytes(site: Site) -> None:
    iso = build_seed_iso({**SEED, "user-data": os.urandom(70 * 1024)})
    odd = os.urandom(300_001)  # not a multiple of any block size

    iso_path = storage.upload_volume(site.host, site.pool, "shoaltest.iso", iso)
    odd_path = storage.upload_volume(site.host, site.pool, "shoaltest.bin", odd)

    assert Path(iso_path).read_bytes() == iso
    assert (
        read_seed_iso(Path(iso_path).read_bytes())["user-data"]
        == (read_seed_iso(iso)["user-data"])
    )
    assert Path(odd_path).read_bytes() == odd
    assert storage.volume_capacity(site.host, site.pool, "shoaltest.bin") == len(odd)


def test_parallel_overlays_and_seeds_in_one_pool(site: Site) -> None:
    # B25: ten creates at once; each seed is its own, complete, and no pool-busy
    # or volume-exists error escapes.
    def create(i: int) -> tuple[str, bytes]:
        seed = build_seed_iso({**SEED, "user-data": f"#name droplet-{i}\n".encode()})
        storage.create_overlay(
            site.host, site.pool, f"shoaltest-{i}.qcow2", str(site.base), GiB
        )
        path = storage.upload_volume(
            site.host, site.pool, f"shoaltest-{i}-seed.iso", seed
        )
        return path, seed

    with ThreadPoolExecutor(max_workers=10) as workers:
        results = list(workers.map(create, range(10)))

    for path, seed in results:
        assert Path(path).read_bytes() == seed
    assert len(storage.list_volumes(site.host, site.pool)) == 20


def test_resize_grows_and_refuses_to_shrink(site: Site) -> None:
    name = "shoaltest-r.qcow2"
    path = storage.create_overlay(site.host, site.pool, name, str(site.base), GiB)

    storage.resize_volume(site.host, site.pool, name, 2 * GiB)
    with pytest.raises(OperationFailed, match="shrink"):
        storage.resize_volume(site.host, site.pool, name, GiB)

    assert json.loads(qemu_img("info", "--output=json", path))["virtual-size"] == (
        2 * GiB
    )


def test_two_domains_run_on_one_base_image(site: Site) -> None:
    # B21: labelling must not lock the shared base to the first domain, and
    # neither domain may write to it.
    before = sha256(site.base)
    names = []
    for suffix in ("a", "b"):
        domain = guest(site, suffix)
        lifecycle.define(site.host, domain.to_xml())
        lifecycle.start(site.host, domain.name)
        names.append(domain.name)

    states = [lifecycle.state(site.host, name) for name in names]
    lifecycle.destroy(site.host, names[0])
    # The second keeps running after the first stopped and was relabelled.
    second_after = lifecycle.state(site.host, names[1])

    assert states == ["running", "running"]
    assert second_after == "running"
    assert sha256(site.base) == before
    assert lifecycle.disk_paths(site.host, names[1])[0].endswith("-b.qcow2")


def test_remove_domain_with_managed_save_image(site: Site) -> None:
    domain = guest(site, "saved")
    lifecycle.define(site.host, domain.to_xml())
    lifecycle.start(site.host, domain.name)
    dom = site.host.connection().lookupByName(domain.name)
    dom.managedSave(0)
    assert dom.hasManagedSaveImage(0)

    assert lifecycle.remove_domain(site.host, domain.name) is True

    assert not lifecycle.exists(site.host, domain.name)
    assert not Path(f"/var/lib/libvirt/qemu/save/{domain.name}.save").exists()


def test_remove_running_domain_with_snapshot(site: Site) -> None:
    domain = guest(site, "snap")
    lifecycle.define(site.host, domain.to_xml())
    lifecycle.start(site.host, domain.name)
    dom = site.host.connection().lookupByName(domain.name)
    dom.snapshotCreateXML("<domainsnapshot><name>adhoc</name></domainsnapshot>", 0)
    assert dom.snapshotNum(0) == 1

    assert lifecycle.remove_domain(site.host, domain.name) is True

    assert not lifecycle.exists(site.host, domain.name)


@pytest.mark.skipif(
    not any(Path("/usr/share/qemu/firmware").glob("*.json")),
    reason="no UEFI firmware (Debian package ovmf) installed",
)
def test_remove_uefi_domain_removes_nvram(site: Site) -> None:
    domain = guest(site, "uefi")
    xml = ET.fromstring(domain.to_xml())
    xml.find("os").set("firmware", "efi")
    lifecycle.define(site.host, ET.tostring(xml, encoding="unicode"))
    lifecycle.start(site.host, domain.name)
    nvram = Path(f"/var/lib/libvirt/qemu/nvram/{domain.name}_VARS.fd")
    assert nvram.exists()

    assert lifecycle.remove_domain(site.host, domain.name) is True

    assert not lifecycle.exists(site.host, domain.name)
    assert not nvram.exists()


@pytest.fixture
def defined_network(system_host: Host, unique: str) -> Iterator[str]:
    """A persistent network, never started: no bridge appears."""
    name = f"shoaltest-{unique}"
    xml = network.build_network(
        name, f"st{unique}", "10.251.77.1", 24, "10.251.77.100", "10.251.77.200"
    ).to_xml()
    system_host.connection().networkDefineXML(xml)
    yield name
    network.remove_network(system_host, name)


def test_reservation_in_stopped_network_config(
    system_host: Host, defined_network: str
) -> None:
    network.add_dhcp_host(
        system_host, defined_network, "52:54:00:5E:00:07", "10.251.77.7"
    )
    network.add_dhcp_host(
        system_host, defined_network, "52:54:00:5e:00:07", "10.251.77.7"
    )

    config = network.dhcp_hosts(system_host, defined_network, inactive=True)
    network.remove_dhcp_host(
        system_host, defined_network, "52:54:00:5e:00:07", "10.251.77.7"
    )

    assert config == [("52:54:00:5e:00:07", "10.251.77.7")]
    assert network.dhcp_hosts(system_host, defined_network, inactive=True) == []


@pytest.fixture
def running_network(system_host: Host, unique: str) -> Iterator[str]:
    """A running isolated network: creates a bridge and a dnsmasq."""
    name = f"shoaltest-{unique}"
    network.ensure_network(
        system_host,
        name,
        f"st{unique}",
        "10.251.78.1",
        24,
        "10.251.78.100",
        "10.251.78.200",
        forward="none",
    )
    yield name
    network.remove_network(system_host, name)


def test_reservation_in_live_and_config_survives_restart(
    system_host: Host, running_network: str
) -> None:
    # B20: both views, so a network restart keeps the reservation.
    mac, ip = "52:54:00:5e:00:07", "10.251.78.7"
    network.add_dhcp_host(system_host, running_network, mac, ip, "web")
    live = network.dhcp_hosts(system_host, running_network)
    config = network.dhcp_hosts(system_host, running_network, inactive=True)

    net = system_host.connection().networkLookupByName(running_network)
    net.destroy()
    net.create()
    after_restart = network.dhcp_hosts(system_host, running_network)

    network.remove_dhcp_host(system_host, running_network, mac, ip)

    assert live == config == after_restart == [(mac, ip)]
    assert network.dhcp_hosts(system_host, running_network) == []
    assert network.dhcp_hosts(system_host, running_network, inactive=True) == []


def test_reservation_only_in_config_is_repaired_live(
    system_host: Host, running_network: str
) -> None:
    # The inverse of B20's failure: an entry that made it into one view only.
    mac, ip = "52:54:00:5e:00:08", "10.251.78.8"
    net = system_host.connection().networkLookupByName(running_network)
    net.update(
        network.libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
        network.libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST,
        -1,
        f"<host mac='{mac}' ip='{ip}'/>",
        network.libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG,
    )
    assert network.dhcp_hosts(system_host, running_network) == []

    network.add_dhcp_host(system_host, running_network, mac, ip)
    live = network.dhcp_hosts(system_host, running_network)
    network.remove_dhcp_host(system_host, running_network, mac, ip)

    assert live == [(mac, ip)]


def test_domain_with_nic_on_the_network_starts(
    site: Site, running_network: str
) -> None:
    domain = guest(site, "nic", net=running_network)
    lifecycle.define(site.host, domain.to_xml())
    lifecycle.start(site.host, domain.name)

    assert lifecycle.state(site.host, domain.name) == "running"
    assert lifecycle.mac_addresses(site.host, domain.name) == ["52:54:00:5e:00:07"]
    assert network.bridge_name(site.host, running_network).startswith("st")
