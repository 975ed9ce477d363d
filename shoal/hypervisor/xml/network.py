"""libvirt network XML: one class per element, named as libvirt names it.

See https://libvirt.org/formatnetwork.html for the elements.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import ClassVar, Self

from shoal.hypervisor.xml.element import (
    XMLObject,
    element,
    on_off,
    opt_int,
    opt_str,
    parse_on_off,
    sub,
    text,
)


@dataclass
class Bridge(XMLObject):
    """`<bridge>`: the host bridge device the network creates."""

    tag: ClassVar[str] = "bridge"

    name: str
    stp: bool | None = None
    delay: int | None = None

    def to_element(self) -> ET.Element:
        return element(
            "bridge", name=self.name, stp=on_off(self.stp), delay=opt_str(self.delay)
        )

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(
            name=el.get("name", ""),
            stp=parse_on_off(el.get("stp")),
            delay=opt_int(el.get("delay")),
        )


@dataclass
class Forward(XMLObject):
    """`<forward>`: how traffic leaves the network (`nat`, `route`, ...)."""

    tag: ClassVar[str] = "forward"

    mode: str

    def to_element(self) -> ET.Element:
        return element("forward", mode=self.mode)

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(mode=el.get("mode", "nat"))


@dataclass(frozen=True)
class Range(XMLObject):
    """`<range>`: the dynamic part of a DHCP scope."""

    tag: ClassVar[str] = "range"

    start: str
    end: str

    def to_element(self) -> ET.Element:
        return element("range", start=self.start, end=self.end)

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(start=el.get("start", ""), end=el.get("end", ""))


@dataclass(frozen=True)
class DHCPHost(XMLObject):
    """`<host>` inside `<dhcp>`: a fixed address for one MAC."""

    tag: ClassVar[str] = "host"

    mac: str
    ip: str
    name: str | None = None

    def to_element(self) -> ET.Element:
        return element("host", mac=self.mac, name=self.name, ip=self.ip)

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(
            mac=el.get("mac", "").lower(), ip=el.get("ip", ""), name=el.get("name")
        )


@dataclass
class DHCP(XMLObject):
    """`<dhcp>`: ranges and fixed host entries."""

    tag: ClassVar[str] = "dhcp"

    ranges: list[Range] = field(default_factory=list)
    hosts: list[DHCPHost] = field(default_factory=list)

    def to_element(self) -> ET.Element:
        el = element("dhcp")
        for item in [*self.ranges, *self.hosts]:
            el.append(item.to_element())
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(
            ranges=[Range.from_element(r) for r in el.findall("range")],
            hosts=[DHCPHost.from_element(h) for h in el.findall("host")],
        )


@dataclass
class IP(XMLObject):
    """`<ip>`: the host's address on the network, and its DHCP service."""

    tag: ClassVar[str] = "ip"

    address: str
    netmask: str | None = None
    prefix: int | None = None
    dhcp: DHCP | None = None

    def to_element(self) -> ET.Element:
        el = element(
            "ip",
            address=self.address,
            netmask=self.netmask,
            prefix=opt_str(self.prefix),
        )
        if self.dhcp is not None:
            el.append(self.dhcp.to_element())
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        dhcp = el.find("dhcp")
        return cls(
            address=el.get("address", ""),
            netmask=el.get("netmask"),
            prefix=opt_int(el.get("prefix")),
            dhcp=None if dhcp is None else DHCP.from_element(dhcp),
        )


@dataclass
class DNS(XMLObject):
    """`<dns>`: the network's DNS service."""

    tag: ClassVar[str] = "dns"

    enable: bool | None = None

    def to_element(self) -> ET.Element:
        enable = None if self.enable is None else ("yes" if self.enable else "no")
        return element("dns", enable=enable)

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(enable=parse_on_off(el.get("enable")))


@dataclass
class Network(XMLObject):
    """`<network>`: a libvirt virtual network."""

    tag: ClassVar[str] = "network"

    name: str
    uuid: str | None = None
    forward: Forward | None = None
    bridge: Bridge | None = None
    dns: DNS | None = None
    ips: list[IP] = field(default_factory=list)

    def to_element(self) -> ET.Element:
        el = element("network")
        sub(el, "name", self.name)
        if self.uuid is not None:
            sub(el, "uuid", self.uuid)
        for part in (self.forward, self.bridge, self.dns, *self.ips):
            if part is not None:
                el.append(part.to_element())
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        forward = el.find("forward")
        bridge = el.find("bridge")
        dns = el.find("dns")
        return cls(
            name=text(el, "name") or "",
            uuid=text(el, "uuid"),
            forward=None if forward is None else Forward.from_element(forward),
            bridge=None if bridge is None else Bridge.from_element(bridge),
            dns=None if dns is None else DNS.from_element(dns),
            ips=[IP.from_element(ip) for ip in el.findall("ip")],
        )

    def dhcp_hosts(self) -> list[DHCPHost]:
        return [host for ip in self.ips if ip.dhcp for host in ip.dhcp.hosts]
