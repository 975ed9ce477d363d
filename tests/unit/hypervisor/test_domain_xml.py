"""Domain XML: golden files pin the guest's virtual hardware, and the XML
defines on libvirt's test driver and reads back with SMBIOS data and MAC."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shoal.hypervisor import lifecycle
from shoal.hypervisor.connection import Host
from shoal.hypervisor.guest import GuestSpec, build_domain
from shoal.hypervisor.xml import Domain, FilterRef, Interface

GOLDEN = Path(__file__).parents[2] / "golden"
UUID = "6f1c2b0e-4a55-4c47-9a53-7a0c4c1d0007"


def spec(**changes: object) -> GuestSpec:
    fields = dict(
        name="droplet-7",
        uuid=UUID,
        vcpus=2,
        memory_mib=1024,
        virt_type="qemu",
        disk_path="/var/lib/shoal/pool/droplet-7.qcow2",
        seed_path="/var/lib/shoal/pool/droplet-7-seed.iso",
        mac="52:54:00:AB:00:07",
        network="shoal",
        smbios_serial="7",
        console_log="/var/lib/shoal/consoles/droplet-7.log",
        ipv4="10.118.0.7",
    )
    fields.update(changes)
    return GuestSpec(**fields)


def assert_matches_golden(name: str, xml: str) -> None:
    path = GOLDEN / name
    # SHOAL_REGEN_GOLDEN=1 rewrites the files; review the diff before keeping it.
    if os.environ.get("SHOAL_REGEN_GOLDEN") == "1":
        path.write_text(xml)
    assert xml == path.read_text(), f"{name} differs from the golden file:\n{xml}"


def test_qemu_domain_matches_golden() -> None:
    assert_matches_golden("droplet-7-qemu.xml", build_domain(spec()).to_xml())


def test_kvm_domain_matches_golden() -> None:
    guest = spec(virt_type="kvm", emulator="/usr/bin/qemu-system-x86_64")

    assert_matches_golden("droplet-7-kvm.xml", build_domain(guest).to_xml())


def test_xml_reads_back_to_the_same_objects() -> None:
    domain = build_domain(spec(virt_type="kvm", tap_device="shoal-tap7"))

    assert Domain.from_xml(domain.to_xml()) == domain


def test_only_kvm_passes_the_host_cpu_through() -> None:
    assert build_domain(spec(virt_type="kvm")).cpu.mode == "host-passthrough"
    assert build_domain(spec(virt_type="qemu")).cpu is None


def test_mac_is_stored_lowercase() -> None:
    (interface,) = build_domain(spec(mac="52:54:00:AB:CD:EF")).interfaces()

    assert interface.mac == "52:54:00:ab:cd:ef"


def test_missing_uuid_is_generated_and_shared_with_smbios() -> None:
    domain = build_domain(spec(uuid=None))

    assert domain.uuid
    assert domain.sysinfo.system["uuid"] == domain.uuid


@pytest.mark.parametrize(
    "changes",
    [
        {"virt_type": "xen"},
        {"mac": "52:54:00:ab:00"},
        {"mac": "not-a-mac"},
        {"uuid": "droplet-7"},
        {"vcpus": 0},
        {"memory_mib": 0},
    ],
)
def test_bad_spec_is_refused(changes: dict) -> None:
    with pytest.raises(ValueError):
        spec(**changes)


def test_seed_cdrom_is_on_ide_from_the_first_definition() -> None:
    # B08: on the `pc` machine Debian's cloud-init finds the seed on IDE only.
    root, seed = build_domain(spec()).disks()

    assert (root.target_dev, root.target_bus, root.driver_type) == (
        "vda",
        "virtio",
        "qcow2",
    )
    assert (seed.device, seed.target_dev, seed.target_bus) == ("cdrom", "hdc", "ide")
    assert seed.readonly and seed.driver_type == "raw"


def test_domain_defines_and_reads_back_smbios_and_mac(host: Host) -> None:
    lifecycle.define(host, build_domain(spec()).to_xml())
    try:
        defined = lifecycle.describe(host, "droplet-7")
    finally:
        lifecycle.remove_domain(host, "droplet-7")

    assert defined.uuid == UUID
    assert defined.sysinfo.system == {
        "manufacturer": "DigitalOcean",
        "product": "Droplet",
        "serial": "7",
        "uuid": UUID,
    }
    assert defined.os.smbios_mode == "sysinfo"
    assert defined.os.machine == "pc"
    assert [i.mac for i in defined.interfaces()] == ["52:54:00:ab:00:07"]
    assert [i.source_network for i in defined.interfaces()] == ["shoal"]
    assert [i.filterref for i in defined.interfaces()] == [
        FilterRef("shoal-droplet", [("IP", "10.118.0.7")])
    ]
    assert [d.source_file for d in defined.disks()] == [
        "/var/lib/shoal/pool/droplet-7.qcow2",
        "/var/lib/shoal/pool/droplet-7-seed.iso",
    ]
    assert defined.memory_mib == 1024 and defined.vcpus == 2
    assert (defined.on_poweroff, defined.on_reboot, defined.on_crash) == (
        "destroy",
        "restart",
        "destroy",
    )


def test_interface_reads_back_host_side_device() -> None:
    xml = """<domain type='kvm'><name>d</name><devices>
      <interface type='network'>
        <mac address='52:54:00:12:34:56'/>
        <source network='shoal' portid='7c4c9a9c-0000-4000-8000-000000000000'/>
        <target dev='vnet3'/>
        <model type='virtio'/>
        <alias name='net0'/>
      </interface></devices></domain>"""

    (interface,) = Domain.from_xml(xml).interfaces()

    assert interface == Interface(
        type="network",
        mac="52:54:00:12:34:56",
        source_network="shoal",
        model_type="virtio",
        target_dev="vnet3",
    )


def test_guest_without_a_seed_has_no_cdrom() -> None:
    # Images that read only the metadata service boot with no seed at all.
    (root,) = build_domain(spec(seed_path=None)).disks()

    assert root.target_dev == "vda"


def test_interface_carries_the_droplet_filter_with_its_address() -> None:
    (interface,) = build_domain(spec()).interfaces()

    assert interface.filterref == FilterRef("shoal-droplet", [("IP", "10.118.0.7")])
    assert build_domain(spec(ipv4=None)).interfaces()[0].filterref is None
