"""The droplet network filter: a golden file pins the rules, and the rules
that keep guests from passing for one another are checked one by one."""

from __future__ import annotations

import os
from pathlib import Path

from shoal.hypervisor import nwfilter
from shoal.hypervisor.connection import Host
from shoal.hypervisor.xml import Filter, FilterRef, Rule

GOLDEN = Path(__file__).parents[2] / "golden" / "nwfilter-shoal-droplet.xml"
METADATA = "169.254.169.254"


def filters() -> dict[str, Filter]:
    return {f.name: f for f in nwfilter.droplet_filters(METADATA)}


def out_rules(name: str) -> list[Rule]:
    rules = [e for e in filters()[name].entries if isinstance(e, Rule)]
    return sorted((r for r in rules if r.direction == "out"), key=lambda r: r.priority)


def test_filters_match_golden():
    xml = "".join(f.to_xml() for f in nwfilter.droplet_filters(METADATA))
    # SHOAL_REGEN_GOLDEN=1 rewrites the file; review the diff before keeping it.
    if os.environ.get("SHOAL_REGEN_GOLDEN") == "1":
        GOLDEN.write_text(xml)
    assert xml == GOLDEN.read_text(), xml


def test_filters_read_back_to_the_same_objects():
    for wanted in nwfilter.droplet_filters(METADATA):
        assert Filter.from_xml(wanted.to_xml()) == wanted


def test_referenced_filters_come_first():
    defined: set[str] = set()
    for wanted in nwfilter.droplet_filters(METADATA):
        own = {e.filter for e in wanted.entries if not isinstance(e, Rule)}
        assert own & set(filters()) <= defined, wanted.name
        defined.add(wanted.name)


def test_guest_cannot_send_as_the_metadata_service():
    for name, protocol_key in (
        (nwfilter.IPV4_FILTER, "srcipaddr"),
        (nwfilter.ARP_FILTER, "arpsrcipaddr"),
    ):
        first = out_rules(name)[0]
        assert (first.action, first.match) == ("drop", {protocol_key: METADATA})


def test_guest_sends_ipv4_only_from_its_address_or_link_local_to_metadata():
    allowed = [r.match for r in out_rules(nwfilter.IPV4_FILTER) if r.action == "return"]

    assert allowed == [
        {"srcipaddr": "0.0.0.0", "protocol": "udp"},
        {"srcipaddr": "$IP"},
        {"srcipaddr": "169.254.0.0", "srcipmask": "16", "dstipaddr": METADATA},
    ]
    last = out_rules(nwfilter.IPV4_FILTER)[-1]
    assert (last.action, last.protocol) == ("drop", None)


def test_link_local_arp_is_only_about_the_metadata_service():
    # libvirt 9 masks the target with the source's mask unless it has its own.
    link_local = [
        r.match for r in out_rules(nwfilter.ARP_FILTER) if "arpsrcipmask" in r.match
    ]

    assert link_local == [
        {
            "arpsrcipaddr": "169.254.0.0",
            "arpsrcipmask": "16",
            "arpdstipaddr": METADATA,
            "arpdstipmask": "32",
        }
    ]


def test_guests_do_not_see_each_others_link_local_arp():
    inbound = [
        (r.action, r.match)
        for r in sorted(
            filters()[nwfilter.ARP_FILTER].entries, key=lambda r: r.priority
        )
        if r.direction == "in"
    ]

    assert inbound == [
        ("return", {"arpsrcipaddr": METADATA}),
        ("drop", {"arpsrcipaddr": "169.254.0.0", "arpsrcipmask": "16"}),
    ]


def test_mac_spoofing_is_refused_by_libvirts_own_filters():
    entries = filters()[nwfilter.DROPLET_FILTER].entries
    refs = {e.filter for e in entries if isinstance(e, FilterRef)}

    assert {"no-mac-spoofing", "no-arp-mac-spoofing", "no-other-l2-traffic"} <= refs


def test_test_driver_has_no_filters_and_says_so(host: Host):
    assert nwfilter.ensure_filters(host, METADATA) is False
