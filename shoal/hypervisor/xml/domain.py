"""libvirt domain XML: one class per element, named as libvirt names it.

Only the mapping lives here. Which devices a guest gets, and with which values,
is policy and lives in `shoal.hypervisor.guest`.
See https://libvirt.org/formatdomain.html for the elements.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import ClassVar, Self, TypeVar

from shoal.hypervisor.xml.element import (
    XMLObject,
    attr,
    element,
    on_off,
    opt_int,
    opt_str,
    parse_on_off,
    sub,
    text,
)
from shoal.hypervisor.xml.nwfilter import FilterRef

# Factors to KiB, the unit libvirt reports memory in.
_KIB_PER_UNIT = {
    "b": 1 / 1024,
    "bytes": 1 / 1024,
    "KiB": 1,
    "k": 1,
    "MiB": 1024,
    "M": 1024,
    "GiB": 1024**2,
    "G": 1024**2,
}


def _mib(value: str, unit: str | None) -> int:
    return int(int(value) * _KIB_PER_UNIT[unit or "KiB"] // 1024)


@dataclass
class OS(XMLObject):
    """`<os>`: firmware type, machine, boot order and SMBIOS source."""

    tag: ClassVar[str] = "os"

    type: str = "hvm"
    arch: str | None = None
    machine: str | None = None
    boot_devs: list[str] = field(default_factory=list)
    smbios_mode: str | None = None

    def to_element(self) -> ET.Element:
        el = element("os")
        sub(el, "type", self.type, arch=self.arch, machine=self.machine)
        for dev in self.boot_devs:
            sub(el, "boot", dev=dev)
        if self.smbios_mode is not None:
            sub(el, "smbios", mode=self.smbios_mode)
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(
            type=text(el, "type") or "hvm",
            arch=attr(el, "type", "arch"),
            machine=attr(el, "type", "machine"),
            boot_devs=[b.get("dev", "") for b in el.findall("boot")],
            smbios_mode=attr(el, "smbios", "mode"),
        )


@dataclass
class SysInfo(XMLObject):
    """`<sysinfo type='smbios'>` with its `<system>` entries, in order."""

    tag: ClassVar[str] = "sysinfo"

    type: str = "smbios"
    system: dict[str, str] = field(default_factory=dict)

    def to_element(self) -> ET.Element:
        el = element("sysinfo", type=self.type)
        system = sub(el, "system")
        for name, value in self.system.items():
            sub(system, "entry", value, name=name)
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        entries = el.findall("system/entry")
        return cls(
            type=el.get("type", "smbios"),
            system={e.get("name", ""): (e.text or "").strip() for e in entries},
        )


@dataclass
class Features(XMLObject):
    """`<features>` holding switches such as `<acpi/>` and `<apic/>`."""

    tag: ClassVar[str] = "features"

    names: list[str] = field(default_factory=list)

    def to_element(self) -> ET.Element:
        el = element("features")
        for name in self.names:
            sub(el, name)
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(names=[child.tag for child in el])


@dataclass
class CPU(XMLObject):
    """`<cpu>`: the CPU model mode."""

    tag: ClassVar[str] = "cpu"

    mode: str | None = None
    check: str | None = None
    migratable: bool | None = None

    def to_element(self) -> ET.Element:
        return element(
            "cpu",
            mode=self.mode,
            check=self.check,
            migratable=on_off(self.migratable),
        )

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(
            mode=el.get("mode"),
            check=el.get("check"),
            migratable=parse_on_off(el.get("migratable")),
        )


@dataclass
class Clock(XMLObject):
    """`<clock>`: how the guest's clock relates to the host's."""

    tag: ClassVar[str] = "clock"

    offset: str = "utc"

    def to_element(self) -> ET.Element:
        return element("clock", offset=self.offset)

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(offset=el.get("offset", "utc"))


@dataclass
class Disk(XMLObject):
    """`<disk>` backed by a file, with its `<driver>`, `<source>` and `<target>`."""

    tag: ClassVar[str] = "disk"

    device: str = "disk"
    type: str = "file"
    driver_name: str | None = None
    driver_type: str | None = None
    driver_cache: str | None = None
    driver_discard: str | None = None
    source_file: str | None = None
    target_dev: str | None = None
    target_bus: str | None = None
    readonly: bool = False

    def to_element(self) -> ET.Element:
        el = element("disk", type=self.type, device=self.device)
        if self.driver_name is not None:
            sub(
                el,
                "driver",
                name=self.driver_name,
                type=self.driver_type,
                cache=self.driver_cache,
                discard=self.driver_discard,
            )
        if self.source_file is not None:
            sub(el, "source", file=self.source_file)
        sub(el, "target", dev=self.target_dev, bus=self.target_bus)
        if self.readonly:
            sub(el, "readonly")
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(
            device=el.get("device", "disk"),
            type=el.get("type", "file"),
            driver_name=attr(el, "driver", "name"),
            driver_type=attr(el, "driver", "type"),
            driver_cache=attr(el, "driver", "cache"),
            driver_discard=attr(el, "driver", "discard"),
            source_file=attr(el, "source", "file"),
            target_dev=attr(el, "target", "dev"),
            target_bus=attr(el, "target", "bus"),
            readonly=el.find("readonly") is not None,
        )


@dataclass
class Interface(XMLObject):
    """`<interface type='network'>`: a NIC on a libvirt virtual network.

    `target_dev` is the host-side tap device; libvirt picks `vnetN` when unset.
    `filterref` names the network filter libvirt applies on that tap device.
    """

    tag: ClassVar[str] = "interface"

    type: str = "network"
    mac: str | None = None
    source_network: str | None = None
    model_type: str | None = None
    target_dev: str | None = None
    filterref: FilterRef | None = None

    def to_element(self) -> ET.Element:
        el = element("interface", type=self.type)
        if self.mac is not None:
            sub(el, "mac", address=self.mac)
        if self.source_network is not None:
            sub(el, "source", network=self.source_network)
        if self.target_dev is not None:
            sub(el, "target", dev=self.target_dev)
        if self.model_type is not None:
            sub(el, "model", type=self.model_type)
        if self.filterref is not None:
            el.append(self.filterref.to_element())
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(
            type=el.get("type", "network"),
            mac=attr(el, "mac", "address"),
            source_network=attr(el, "source", "network"),
            model_type=attr(el, "model", "type"),
            target_dev=attr(el, "target", "dev"),
            filterref=_optional(FilterRef, el.find("filterref")),
        )


@dataclass
class Serial(XMLObject):
    """`<serial>`, optionally copying its output to a `<log>` file."""

    tag: ClassVar[str] = "serial"

    type: str = "pty"
    log_file: str | None = None
    log_append: bool | None = None
    target_port: int | None = None

    def to_element(self) -> ET.Element:
        el = element("serial", type=self.type)
        if self.log_file is not None:
            sub(el, "log", file=self.log_file, append=on_off(self.log_append))
        if self.target_port is not None:
            sub(el, "target", port=str(self.target_port))
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(
            type=el.get("type", "pty"),
            log_file=attr(el, "log", "file"),
            log_append=parse_on_off(attr(el, "log", "append")),
            target_port=opt_int(attr(el, "target", "port")),
        )


@dataclass
class Console(XMLObject):
    """`<console>`: the console libvirt hands to `virsh console`."""

    tag: ClassVar[str] = "console"

    type: str = "pty"
    target_type: str | None = None
    target_port: int | None = None

    def to_element(self) -> ET.Element:
        el = element("console", type=self.type)
        if self.target_type is not None or self.target_port is not None:
            sub(el, "target", type=self.target_type, port=opt_str(self.target_port))
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(
            type=el.get("type", "pty"),
            target_type=attr(el, "target", "type"),
            target_port=opt_int(attr(el, "target", "port")),
        )


@dataclass
class MemBalloon(XMLObject):
    """`<memballoon>`: the balloon device."""

    tag: ClassVar[str] = "memballoon"

    model: str = "virtio"

    def to_element(self) -> ET.Element:
        return element("memballoon", model=self.model)

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(model=el.get("model", "virtio"))


@dataclass
class RNG(XMLObject):
    """`<rng>`: a random number generator fed from a host source."""

    tag: ClassVar[str] = "rng"

    model: str = "virtio"
    backend_model: str = "random"
    backend_path: str | None = None

    def to_element(self) -> ET.Element:
        el = element("rng", model=self.model)
        sub(el, "backend", self.backend_path, model=self.backend_model)
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(
            model=el.get("model", "virtio"),
            backend_model=attr(el, "backend", "model") or "random",
            backend_path=text(el, "backend"),
        )


Device = Disk | Interface | Serial | Console | MemBalloon | RNG

_DEVICE_CLASSES: dict[str, type[XMLObject]] = {
    cls.tag: cls for cls in (Disk, Interface, Serial, Console, MemBalloon, RNG)
}


@dataclass
class Domain(XMLObject):
    """`<domain>`: a guest definition."""

    tag: ClassVar[str] = "domain"

    type: str
    name: str
    uuid: str | None = None
    memory_mib: int | None = None
    vcpus: int | None = None
    sysinfo: SysInfo | None = None
    os: OS | None = None
    features: Features | None = None
    cpu: CPU | None = None
    clock: Clock | None = None
    on_poweroff: str | None = None
    on_reboot: str | None = None
    on_crash: str | None = None
    emulator: str | None = None
    devices: list[Device] = field(default_factory=list)

    def to_element(self) -> ET.Element:
        el = element("domain", type=self.type)
        sub(el, "name", self.name)
        if self.uuid is not None:
            sub(el, "uuid", self.uuid)
        if self.memory_mib is not None:
            sub(el, "memory", str(self.memory_mib), unit="MiB")
        if self.vcpus is not None:
            sub(el, "vcpu", str(self.vcpus))

        for part in (self.sysinfo, self.os, self.features, self.cpu, self.clock):
            if part is not None:
                el.append(part.to_element())

        for event in ("on_poweroff", "on_reboot", "on_crash"):
            action = getattr(self, event)
            if action is not None:
                sub(el, event, action)

        el.append(self._devices_element())
        return el

    def _devices_element(self) -> ET.Element:
        devices = element("devices")
        if self.emulator is not None:
            sub(devices, "emulator", self.emulator)
        for device in self.devices:
            devices.append(device.to_element())
        return devices

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        memory = el.find("memory")
        memory_mib = None if memory is None else _mib(memory.text, memory.get("unit"))
        return cls(
            type=el.get("type", ""),
            name=text(el, "name") or "",
            uuid=text(el, "uuid"),
            memory_mib=memory_mib,
            vcpus=opt_int(text(el, "vcpu")),
            sysinfo=_optional(SysInfo, el.find("sysinfo")),
            os=_optional(OS, el.find("os")),
            features=_optional(Features, el.find("features")),
            cpu=_optional(CPU, el.find("cpu")),
            clock=_optional(Clock, el.find("clock")),
            on_poweroff=text(el, "on_poweroff"),
            on_reboot=text(el, "on_reboot"),
            on_crash=text(el, "on_crash"),
            emulator=text(el, "devices/emulator"),
            devices=_parse_devices(el.find("devices")),
        )

    def disks(self) -> list[Disk]:
        return [d for d in self.devices if isinstance(d, Disk)]

    def interfaces(self) -> list[Interface]:
        return [d for d in self.devices if isinstance(d, Interface)]


_T = TypeVar("_T", bound=XMLObject)


def _optional(cls: type[_T], el: ET.Element | None) -> _T | None:
    return None if el is None else cls.from_element(el)


def _parse_devices(el: ET.Element | None) -> list[Device]:
    if el is None:
        return []
    return [
        _DEVICE_CLASSES[child.tag].from_element(child)
        for child in el
        if child.tag in _DEVICE_CLASSES
    ]
