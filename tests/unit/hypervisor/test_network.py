"""Networks and DHCP reservations on libvirt's test driver.

The test driver cannot show a running network's persistent definition
(`VIR_NETWORK_XML_INACTIVE`), so reservations are mostly tested here on a
defined but stopped network, whose only view is the persistent one. On a running
test network both views are changed together from the live one. Running
networks with two separate views are tested against qemu:///system in
test_system.py (marked e2e).
"""

from __future__ import annotations

import pytest

from shoal.hypervisor import network
from shoal.hypervisor.connection import Host
from shoal.hypervisor.errors import AlreadyExists, NetworkNotFound
from shoal.hypervisor.xml import Network

NET = "shoaltest-net"
ARGS = dict(
    bridge="shoalbr0",
    gateway_ip="10.118.0.1",
    prefix=24,
    dhcp_start="10.118.0.128",
    dhcp_end="10.118.0.254",
)
MAC = "52:54:00:00:00:07"


@pytest.fixture
def running(host: Host):
    network.ensure_network(host, NET, **ARGS, forward="nat")
    yield NET
    network.remove_network(host, NET)


@pytest.fixture
def stopped(host: Host):
    """A persistent network that was never started."""
    xml = network.build_network(NET, **ARGS, forward="none").to_xml()
    host.connection().networkDefineXML(xml)
    yield NET
    network.remove_network(host, NET)


def test_ensure_network_defines_autostarts_and_starts(host: Host, running: str) -> None:
    net = host.connection().networkLookupByName(running)
    defined = Network.from_xml(net.XMLDesc(0))

    assert net.isPersistent() and net.autostart() and net.isActive()
    assert defined.forward.mode == "nat"
    assert (defined.bridge.name, defined.bridge.stp, defined.bridge.delay) == (
        "shoalbr0",
        True,
        0,
    )
    (ip,) = defined.ips
    assert (ip.address, ip.netmask) == ("10.118.0.1", "255.255.255.0")
    assert [(r.start, r.end) for r in ip.dhcp.ranges] == [
        ("10.118.0.128", "10.118.0.254")
    ]


def test_ensure_network_is_idempotent_and_restarts(host: Host, running: str) -> None:
    host.connection().networkLookupByName(running).destroy()

    network.ensure_network(host, NET, **ARGS)
    network.ensure_network(host, NET, **ARGS)

    assert host.connection().networkLookupByName(running).isActive()


def test_ensure_network_refuses_other_settings(host: Host, running: str) -> None:
    with pytest.raises(AlreadyExists, match="already exists"):
        network.ensure_network(host, NET, **{**ARGS, "bridge": "otherbr0"})
    with pytest.raises(AlreadyExists):
        network.ensure_network(host, NET, **{**ARGS, "gateway_ip": "10.118.0.2"})
    with pytest.raises(AlreadyExists):
        network.ensure_network(host, NET, **ARGS, forward="none")


def test_isolated_network_has_no_forward() -> None:
    isolated = network.build_network(NET, **ARGS, forward="none")

    assert isolated.forward is None
    assert "<forward" not in isolated.to_xml()


@pytest.mark.parametrize(
    "changes",
    [{"forward": "bridge"}, {"dhcp_start": "10.119.0.5"}, {"dhcp_end": "10.0.0.1"}],
)
def test_build_network_refuses_bad_settings(changes: dict) -> None:
    with pytest.raises(ValueError):
        network.build_network(NET, **{**ARGS, "forward": "nat", **changes})


def test_bridge_name(host: Host, running: str) -> None:
    assert network.bridge_name(host, running) == "shoalbr0"


def test_missing_network(host: Host) -> None:
    with pytest.raises(NetworkNotFound, match="network=nope"):
        network.bridge_name(host, "nope")
    assert network.remove_network(host, "nope") is False


def test_add_and_remove_dhcp_host(host: Host, stopped: str) -> None:
    network.add_dhcp_host(host, stopped, MAC.upper(), "10.118.0.7", "web")

    assert network.dhcp_hosts(host, stopped) == [(MAC, "10.118.0.7")]

    network.remove_dhcp_host(host, stopped, MAC, "10.118.0.7")

    assert network.dhcp_hosts(host, stopped) == []


def test_adding_the_same_reservation_twice_is_fine(host: Host, stopped: str) -> None:
    network.add_dhcp_host(host, stopped, MAC, "10.118.0.7")
    network.add_dhcp_host(host, stopped, MAC, "10.118.0.7")

    assert network.dhcp_hosts(host, stopped) == [(MAC, "10.118.0.7")]


@pytest.mark.parametrize(
    ("mac", "ip"),
    [(MAC, "10.118.0.8"), ("52:54:00:00:00:08", "10.118.0.7")],
    ids=["same-mac", "same-ip"],
)
def test_conflicting_reservation_is_already_exists(
    host: Host, stopped: str, mac: str, ip: str
) -> None:
    network.add_dhcp_host(host, stopped, MAC, "10.118.0.7")

    with pytest.raises(AlreadyExists, match="10.118.0.7"):
        network.add_dhcp_host(host, stopped, mac, ip)

    assert network.dhcp_hosts(host, stopped) == [(MAC, "10.118.0.7")]


def test_removing_a_missing_reservation_is_fine(host: Host, stopped: str) -> None:
    network.add_dhcp_host(host, stopped, MAC, "10.118.0.7")

    network.remove_dhcp_host(host, stopped, MAC, "10.118.0.99")
    network.remove_dhcp_host(host, stopped, "52:54:00:00:00:99", "10.118.0.7")

    assert network.dhcp_hosts(host, stopped) == [(MAC, "10.118.0.7")]


def test_remove_touches_only_its_own_entry(host: Host, stopped: str) -> None:
    network.add_dhcp_host(host, stopped, MAC, "10.118.0.7")
    network.add_dhcp_host(host, stopped, "52:54:00:00:00:08", "10.118.0.8", "db")

    network.remove_dhcp_host(host, stopped, "52:54:00:00:00:08", "10.118.0.8")

    assert network.dhcp_hosts(host, stopped) == [(MAC, "10.118.0.7")]


def test_reservation_on_running_network(host: Host, running: str) -> None:
    network.add_dhcp_host(host, running, MAC, "10.118.0.7")
    network.add_dhcp_host(host, running, MAC, "10.118.0.7")
    live = network.dhcp_hosts(host, running)

    network.remove_dhcp_host(host, running, MAC, "10.118.0.7")

    assert live == [(MAC, "10.118.0.7")]
    assert network.dhcp_hosts(host, running) == []
