"""libvirt virtual networks and their DHCP reservations.

A reservation must hold in the running network (dnsmasq hands it out now) and in
the persistent definition (it survives a network restart, a libvirtd restart and
a host reboot; field report B20). Each view is read and changed on its own, so a
reservation that exists in only one of them is repaired by adding it again.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator

import libvirt

from shoal.hypervisor.connection import Host
from shoal.hypervisor.errors import AlreadyExists, libvirt_errors
from shoal.hypervisor.xml import (
    DHCP,
    DNS,
    IP,
    Bridge,
    DHCPHost,
    Forward,
    Network,
    Range,
)

log = logging.getLogger(__name__)

FORWARD_MODES = ("nat", "none")

_LIVE = libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE
_CONFIG = libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
_VIEW_NAMES = {_LIVE: "live", _CONFIG: "config", _LIVE | _CONFIG: "live+config"}
_UNSUPPORTED_FLAGS = frozenset(
    {libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT}
)


def build_network(
    name: str,
    bridge: str,
    gateway_ip: str,
    prefix: int,
    dhcp_start: str,
    dhcp_end: str,
    forward: str = "nat",
) -> Network:
    """The definition of a bridged network with DHCP; `forward='none'` isolates it."""
    if forward not in FORWARD_MODES:
        raise ValueError(f"forward must be one of {FORWARD_MODES}")

    subnet = ipaddress.IPv4Interface(f"{gateway_ip}/{prefix}").network
    for address in (dhcp_start, dhcp_end):
        if ipaddress.IPv4Address(address) not in subnet:
            raise ValueError(f"{address} is outside {subnet}")

    return Network(
        name=name,
        forward=Forward(mode=forward) if forward != "none" else None,
        bridge=Bridge(name=bridge, stp=True, delay=0),
        dns=DNS(),
        ips=[
            IP(
                address=gateway_ip,
                netmask=str(subnet.netmask),
                dhcp=DHCP(ranges=[Range(start=dhcp_start, end=dhcp_end)]),
            )
        ],
    )


def ensure_network(
    host: Host,
    name: str,
    bridge: str,
    gateway_ip: str,
    prefix: int,
    dhcp_start: str,
    dhcp_end: str,
    forward: str = "nat",
) -> None:
    """Make `name` a persistent, autostarted, running network. Idempotent.

    An existing network is kept with its reservations; if its bridge, address or
    forward mode differ from the ones asked for, `AlreadyExists` is raised.
    """
    wanted = build_network(
        name, bridge, gateway_ip, prefix, dhcp_start, dhcp_end, forward
    )
    conn = host.connection()

    with libvirt_errors(network=name):
        net = _find_network(conn, name)
        if net is None:
            net = conn.networkDefineXML(wanted.to_xml())
            log.info("network defined network=%s bridge=%s", name, bridge)
        _check_matches(Network.from_xml(net.XMLDesc(0)), wanted)

        if not net.autostart():
            net.setAutostart(1)
        if not net.isActive():
            net.create()

    log.info("network ready network=%s bridge=%s", name, bridge)


def remove_network(host: Host, name: str) -> bool:
    """Stop and undefine a network. Returns False when there was none."""
    with libvirt_errors(network=name):
        net = _find_network(host.connection(), name)
        if net is None:
            return False
        if net.isActive():
            net.destroy()
        if net.isPersistent():
            net.undefine()

    log.info("network removed network=%s", name)
    return True


def add_dhcp_host(
    host: Host, network: str, mac: str, ip: str, hostname: str | None = None
) -> None:
    """Reserve `ip` for `mac` in the live network and its persistent definition.

    Idempotent: an identical entry is left alone. An entry that holds the same
    MAC or the same IP with other values raises `AlreadyExists`.
    """
    entry = DHCPHost(mac=mac.lower(), ip=ip, name=hostname)

    with libvirt_errors(network=network):
        net = _network(host, network)
        for flag, entries in _views(net):
            if entry in entries:
                continue
            _check_free(entry, entries, network)
            _update(net, libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, entry, flag)

    log.info("dhcp host added network=%s mac=%s ip=%s", network, entry.mac, ip)


def remove_dhcp_host(host: Host, network: str, mac: str, ip: str) -> None:
    """Drop the reservation of `ip` for `mac` from both views; missing is fine."""
    mac = mac.lower()
    removed = 0

    with libvirt_errors(network=network):
        net = _network(host, network)
        for flag, entries in _views(net):
            for entry in entries:
                if (entry.mac, entry.ip) == (mac, ip):
                    # libvirt deletes only an entry matching every given field.
                    _update(net, libvirt.VIR_NETWORK_UPDATE_COMMAND_DELETE, entry, flag)
                    removed += 1

    log.info(
        "dhcp host removed network=%s mac=%s ip=%s entries=%d",
        network,
        mac,
        ip,
        removed,
    )


def dhcp_hosts(
    host: Host, network: str, inactive: bool = False
) -> list[tuple[str, str]]:
    """(mac, ip) of each reservation: live, or persistent with `inactive`."""
    flags = libvirt.VIR_NETWORK_XML_INACTIVE if inactive else 0
    with libvirt_errors(network=network):
        xml = _network(host, network).XMLDesc(flags)
    return [(h.mac, h.ip) for h in Network.from_xml(xml).dhcp_hosts()]


def bridge_name(host: Host, network: str) -> str:
    """The host bridge device of the network, e.g. `shoalbr0`."""
    with libvirt_errors(network=network):
        return _network(host, network).bridgeName()


def _views(net: libvirt.virNetwork) -> Iterator[tuple[int, list[DHCPHost]]]:
    """(update flags, entries) per view: config first, then live if running.

    Config goes first so that a reservation that made it anywhere survives a
    restart. Call inside `libvirt_errors()`.
    """
    if not net.isActive():
        yield _CONFIG, _entries(net.XMLDesc(0))
        return

    config = _config_entries(net)
    live = _entries(net.XMLDesc(0))
    if config is None:
        # The driver cannot show the persistent definition of a running
        # network (libvirt's test driver): treat both views as the live one.
        yield _LIVE | _CONFIG, live
        return
    yield _CONFIG, config
    yield _LIVE, live


def _config_entries(net: libvirt.virNetwork) -> list[DHCPHost] | None:
    """Entries of a running network's persistent definition; None if the driver
    cannot show it. Call inside `libvirt_errors()`."""
    try:
        return _entries(net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE))
    except libvirt.libvirtError as err:
        if err.get_error_code() in _UNSUPPORTED_FLAGS:
            return None
        raise


def _entries(xml: str) -> list[DHCPHost]:
    return Network.from_xml(xml).dhcp_hosts()


def _check_free(entry: DHCPHost, entries: list[DHCPHost], network: str) -> None:
    for other in entries:
        if other.mac == entry.mac or other.ip == entry.ip:
            raise AlreadyExists(
                f"network {network} already reserves ip={other.ip} for mac={other.mac}"
            )


def _update(net: libvirt.virNetwork, command: int, entry: DHCPHost, flag: int) -> None:
    section = libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST
    net.update(command, section, -1, entry.to_xml(), flag)
    view = _VIEW_NAMES[flag]
    log.debug("dhcp host update network=%s view=%s mac=%s", net.name(), view, entry.mac)


def _check_matches(existing: Network, wanted: Network) -> None:
    def shape(net: Network) -> tuple:
        bridge = net.bridge.name if net.bridge else None
        mode = net.forward.mode if net.forward else "none"
        ips = [_interface(ip) for ip in net.ips]
        return bridge, mode, ips

    if shape(existing) != shape(wanted):
        raise AlreadyExists(
            f"network {wanted.name} already exists with bridge, forward mode or "
            f"address other than asked: {shape(existing)}"
        )


def _interface(ip: IP) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    mask = ip.netmask or ip.prefix
    if mask is None:
        return ipaddress.ip_interface(ip.address)
    return ipaddress.ip_interface(f"{ip.address}/{mask}")


def _network(host: Host, name: str) -> libvirt.virNetwork:
    return host.connection().networkLookupByName(name)


def _find_network(conn: libvirt.virConnect, name: str) -> libvirt.virNetwork | None:
    try:
        return conn.networkLookupByName(name)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_NETWORK:
            return None
        raise
