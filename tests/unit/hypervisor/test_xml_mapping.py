"""The typed XML objects write what they read, and read libvirt's own output."""

from __future__ import annotations

import pytest

from shoal.hypervisor.connection import Host
from shoal.hypervisor.network import build_network
from shoal.hypervisor.xml import (
    DHCPHost,
    Disk,
    Domain,
    Network,
    Pool,
    Volume,
)
from shoal.hypervisor.xml.storage import BackingStore


def test_network_round_trip() -> None:
    net = build_network("n", "br0", "10.0.0.1", 24, "10.0.0.10", "10.0.0.20")
    net.ips[0].dhcp.hosts.append(DHCPHost("52:54:00:00:00:01", "10.0.0.5", "web"))

    assert Network.from_xml(net.to_xml()) == net


def test_volume_and_pool_round_trip() -> None:
    volume = Volume(
        name="v.qcow2",
        capacity_bytes=10,
        allocation_bytes=0,
        format_type="qcow2",
        target_mode="0600",
        backing_store=BackingStore(path="/base.qcow2", format_type="qcow2"),
    )
    pool = Pool(name="p", target_path="/srv/p", target_mode="0711")

    assert Volume.from_xml(volume.to_xml()) == volume
    assert Pool.from_xml(pool.to_xml()) == pool


def test_unset_values_are_left_out() -> None:
    xml = Disk(device="cdrom", target_dev="hdc").to_xml()

    assert xml == '<disk type="file" device="cdrom">\n  <target dev="hdc" />\n</disk>\n'


@pytest.mark.parametrize(
    ("unit", "value", "mib"),
    [
        ("KiB", "524288", 512),
        (None, "524288", 512),
        ("MiB", "512", 512),
        ("GiB", "2", 2048),
    ],
)
def test_memory_units(unit: str | None, value: str, mib: int) -> None:
    unit_attr = f" unit='{unit}'" if unit else ""
    xml = (
        f"<domain type='kvm'><name>d</name><memory{unit_attr}>{value}</memory></domain>"
    )

    assert Domain.from_xml(xml).memory_mib == mib


def test_reads_a_full_libvirt_domain(host: Host) -> None:
    xml = host.connection().lookupByName("test").XMLDesc(0)

    domain = Domain.from_xml(xml)

    assert domain.name == "test" and domain.type == "test"


def test_volume_without_backing_store() -> None:
    xml = """<volume type='file'><name>a</name>
      <capacity unit='bytes'>5</capacity><allocation unit='bytes'>0</allocation>
      <target><path>/p/a</path><format type='raw'/></target>
      <backingStore/></volume>"""

    volume = Volume.from_xml(xml)

    assert volume.backing_store is None
    assert (volume.capacity_bytes, volume.target_path) == (5, "/p/a")


def test_from_xml_checks_the_root_element() -> None:
    with pytest.raises(ValueError, match="expected <volume>"):
        Volume.from_xml("<pool type='dir'><name>p</name></pool>")
