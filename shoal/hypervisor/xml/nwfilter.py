"""libvirt network filter XML: one class per element, named as libvirt names it.

Only the mapping lives here; which rules a droplet gets is policy and lives in
`shoal.hypervisor.nwfilter`. See https://libvirt.org/formatnwfilter.html.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import ClassVar, Self

from shoal.hypervisor.xml.element import XMLObject, element, opt_int, opt_str, sub

# The protocol elements a `<rule>` may hold, as libvirt names them.
PROTOCOLS = ("mac", "vlan", "stp", "arp", "rarp", "ip", "ipv6", "tcp", "udp", "all")


@dataclass
class FilterRef(XMLObject):
    """`<filterref filter=...>` with its `<parameter name value>` children.

    It appears inside a `<filter>` and on a domain's `<interface>`, where the
    parameters give the filter's variables (e.g. `IP`) their values. A name
    given twice is a list, which libvirt expands into one rule per value.
    """

    tag: ClassVar[str] = "filterref"

    filter: str
    parameters: list[tuple[str, str]] = field(default_factory=list)

    def to_element(self) -> ET.Element:
        el = element("filterref", filter=self.filter)
        for name, value in self.parameters:
            sub(el, "parameter", name=name, value=value)
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(
            filter=el.get("filter", ""),
            parameters=[
                (p.get("name", ""), p.get("value", "")) for p in el.findall("parameter")
            ],
        )


@dataclass
class Rule(XMLObject):
    """`<rule>`: what to do with frames going one way that match its protocol
    element (`<ip srcipaddr=...>`); a rule without one matches every frame."""

    tag: ClassVar[str] = "rule"

    action: str
    direction: str
    priority: int | None = None
    protocol: str | None = None
    match: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.protocol is not None and self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}")

    def to_element(self) -> ET.Element:
        el = element(
            "rule",
            action=self.action,
            direction=self.direction,
            priority=opt_str(self.priority),
        )
        if self.protocol is not None:
            sub(el, self.protocol, **self.match)
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        protocol = next((c for c in el if c.tag in PROTOCOLS), None)
        return cls(
            action=el.get("action", ""),
            direction=el.get("direction", ""),
            priority=opt_int(el.get("priority")),
            protocol=None if protocol is None else protocol.tag,
            match={} if protocol is None else dict(protocol.attrib),
        )


@dataclass
class Filter(XMLObject):
    """`<filter name chain priority>`: rules and references to other filters.

    `chain` names the ebtables chain the rules go to (`root`, or a protocol's
    such as `ipv4-ip`); `priority` orders that chain among its siblings.
    """

    tag: ClassVar[str] = "filter"

    name: str
    chain: str | None = None
    priority: int | None = None
    uuid: str | None = None
    entries: list[Rule | FilterRef] = field(default_factory=list)

    def to_element(self) -> ET.Element:
        el = element(
            "filter", name=self.name, chain=self.chain, priority=opt_str(self.priority)
        )
        if self.uuid is not None:
            sub(el, "uuid", self.uuid)
        for entry in self.entries:
            el.append(entry.to_element())
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        kinds = {"rule": Rule, "filterref": FilterRef}
        uuid = el.find("uuid")
        return cls(
            name=el.get("name", ""),
            chain=el.get("chain"),
            priority=opt_int(el.get("priority")),
            uuid=None if uuid is None or uuid.text is None else uuid.text.strip(),
            entries=[kinds[c.tag].from_element(c) for c in el if c.tag in kinds],
        )
