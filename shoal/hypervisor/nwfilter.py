"""What a droplet may send on its network, enforced on the host's bridge port.

Every droplet interface references `shoal-droplet` with its address as the
`IP` parameter (libvirt fills in `MAC` from the interface). libvirt turns the
filter into ebtables rules on the droplet's tap device, in the `nat` table,
so a dropped frame never even teaches the bridge its source MAC. A guest can
then send only:

- frames from its own MAC, and ARP that names its own MAC (no MAC spoofing);
- IPv4 from its own address, or DHCP from 0.0.0.0;
- IPv4 and ARP from a link-local address (169.254/16) only to the metadata
  service: cloud-init's DigitalOcean datasource fetches its data from a random
  link-local address before the network is up;
- never anything claiming to be the metadata service's address.

Towards the guest, ARP from another guest's link-local address is dropped, so
no guest learns which address another one is fetching its metadata from.

The metadata service relies on this: it names the caller by the source MAC of
the connection's first frame (see `shoal.hypervisor.hostnet`). The filter
builds on libvirt's stock filters (`no-mac-spoofing` and friends, package
libvirt-daemon-config-nwfilter); it is `clean-traffic` with a link-local
exception that cannot reach other guests.
"""

from __future__ import annotations

import dataclasses
import logging

import libvirt

from shoal.hypervisor.connection import Host
from shoal.hypervisor.errors import libvirt_errors
from shoal.hypervisor.xml.nwfilter import Filter, FilterRef, Rule

log = logging.getLogger(__name__)

DROPLET_FILTER = "shoal-droplet"
IPV4_FILTER = "shoal-droplet-ipv4"
ARP_FILTER = "shoal-droplet-arp"

LINK_LOCAL = ("169.254.0.0", "16")


def droplet_filter_ref(ipv4: str) -> FilterRef:
    """What a droplet's `<interface>` carries: the filter and its address."""
    return FilterRef(filter=DROPLET_FILTER, parameters=[("IP", ipv4)])


def droplet_filters(metadata_address: str) -> list[Filter]:
    """The filters, those referenced first (the order they are defined in)."""
    return [
        _ipv4_filter(metadata_address),
        _arp_filter(metadata_address),
        _droplet_filter(),
    ]


def _ipv4_filter(metadata: str) -> Filter:
    net, mask = LINK_LOCAL
    return Filter(
        name=IPV4_FILTER,
        chain="ipv4-ip",
        priority=-710,
        entries=[
            # Nobody answers other guests in the metadata service's name.
            Rule("drop", "out", 100, "ip", {"srcipaddr": metadata}),
            # A DHCP client asks before it has an address.
            Rule(
                "return", "out", 200, "ip", {"srcipaddr": "0.0.0.0", "protocol": "udp"}
            ),
            Rule("return", "out", 500, "ip", {"srcipaddr": "$IP"}),
            # cloud-init's DigitalOcean datasource, before the network is up.
            Rule(
                "return",
                "out",
                600,
                "ip",
                {"srcipaddr": net, "srcipmask": mask, "dstipaddr": metadata},
            ),
            Rule("drop", "out", 1000),
        ],
    )


def _arp_filter(metadata: str) -> Filter:
    net, mask = LINK_LOCAL
    link_local = {"arpsrcipaddr": net, "arpsrcipmask": mask}
    return Filter(
        name=ARP_FILTER,
        chain="arp-ip",
        priority=-510,
        entries=[
            Rule("drop", "out", 100, "arp", {"arpsrcipaddr": metadata}),
            Rule("return", "out", 400, "arp", {"arpsrcipaddr": "$IP"}),
            # libvirt 9 applies a source mask to the target address too unless
            # the target has its own.
            Rule(
                "return",
                "out",
                500,
                "arp",
                {**link_local, "arpdstipaddr": metadata, "arpdstipmask": "32"},
            ),
            Rule("drop", "out", 1000),
            # Towards the guest: another guest's link-local address stays unknown.
            Rule("return", "in", 600, "arp", {"arpsrcipaddr": metadata}),
            Rule("drop", "in", 700, "arp", link_local),
        ],
    )


def _droplet_filter() -> Filter:
    return Filter(
        name=DROPLET_FILTER,
        chain="root",
        entries=[
            FilterRef("no-mac-spoofing"),
            FilterRef(IPV4_FILTER),
            Rule("accept", "out", -650, "mac", {"protocolid": "ipv4"}),
            FilterRef("allow-incoming-ipv4"),
            FilterRef("no-arp-mac-spoofing"),
            FilterRef(ARP_FILTER),
            Rule("accept", "inout", -500, "mac", {"protocolid": "arp"}),
            FilterRef("no-other-l2-traffic"),
            FilterRef("qemu-announce-self"),
        ],
    )


def ensure_filters(host: Host, metadata_address: str) -> bool:
    """Define Shoal's filters, or redefine those that differ. Idempotent.

    Returns False when the driver has no network filters at all (libvirt's
    test driver); a real hypervisor then refuses to start a droplet whose
    interface references them, so nothing runs unfiltered.
    """
    conn = host.connection()
    with libvirt_errors(nwfilter=DROPLET_FILTER):
        try:
            existing = {f.name(): f for f in conn.listAllNWFilters(0)}
        except libvirt.libvirtError as err:
            if err.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
                return False
            raise

        for wanted in droplet_filters(metadata_address):
            _ensure(conn, existing.get(wanted.name), wanted)
    return True


def _ensure(
    conn: libvirt.virConnect, current: libvirt.virNWFilter | None, wanted: Filter
) -> None:
    if current is not None:
        found = Filter.from_xml(current.XMLDesc(0))
        # libvirt keys a filter by name and UUID: a redefinition keeps it.
        wanted = dataclasses.replace(wanted, uuid=found.uuid)
        if found == wanted:
            return

    conn.nwfilterDefineXML(wanted.to_xml())
    log.info("network filter defined nwfilter=%s", wanted.name)
