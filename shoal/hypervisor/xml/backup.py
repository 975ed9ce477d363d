"""libvirt backup job XML: `<domainbackup>` and the disks it covers.

See https://libvirt.org/formatbackup.html for the elements.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import ClassVar, Self

from shoal.hypervisor.xml.element import XMLObject, attr, element, sub


@dataclass
class BackupDisk(XMLObject):
    """`<disk>` of a backup: copied to a file (`target_file`), or left out."""

    tag: ClassVar[str] = "disk"

    name: str
    backup: bool = True
    target_file: str | None = None
    driver_type: str | None = None

    def to_element(self) -> ET.Element:
        if not self.backup:
            return element("disk", name=self.name, backup="no")
        el = element("disk", name=self.name, type="file")
        sub(el, "target", file=self.target_file)
        if self.driver_type is not None:
            sub(el, "driver", type=self.driver_type)
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(
            name=el.get("name", ""),
            backup=el.get("backup", "yes") == "yes",
            target_file=attr(el, "target", "file"),
            driver_type=attr(el, "driver", "type"),
        )


@dataclass
class DomainBackup(XMLObject):
    """`<domainbackup>`: a push-mode (full) backup unless `mode` says otherwise."""

    tag: ClassVar[str] = "domainbackup"

    mode: str = "push"
    disks: list[BackupDisk] = field(default_factory=list)

    def to_element(self) -> ET.Element:
        el = element("domainbackup", mode=self.mode)
        disks = sub(el, "disks")
        for disk in self.disks:
            disks.append(disk.to_element())
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(
            mode=el.get("mode", "push"),
            disks=[BackupDisk.from_element(d) for d in el.findall("disks/disk")],
        )
