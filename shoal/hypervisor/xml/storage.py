"""libvirt storage pool and volume XML, one class per element.

See https://libvirt.org/formatstorage.html for the elements.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import ClassVar, Self

from shoal.hypervisor.xml.element import XMLObject, attr, element, opt_int, sub, text


@dataclass
class Pool(XMLObject):
    """`<pool>`: a storage pool; Shoal uses `type='dir'` pools only."""

    tag: ClassVar[str] = "pool"

    name: str
    type: str = "dir"
    target_path: str | None = None
    target_mode: str | None = None

    def to_element(self) -> ET.Element:
        el = element("pool", type=self.type)
        sub(el, "name", self.name)
        target = sub(el, "target")
        sub(target, "path", self.target_path)
        if self.target_mode is not None:
            permissions = sub(target, "permissions")
            sub(permissions, "mode", self.target_mode)
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(
            name=text(el, "name") or "",
            type=el.get("type", "dir"),
            target_path=text(el, "target/path"),
            target_mode=text(el, "target/permissions/mode"),
        )


@dataclass
class BackingStore(XMLObject):
    """`<backingStore>` of a volume: the image it is an overlay of."""

    tag: ClassVar[str] = "backingStore"

    path: str
    format_type: str | None = None

    def to_element(self) -> ET.Element:
        el = element("backingStore")
        sub(el, "path", self.path)
        if self.format_type is not None:
            sub(el, "format", type=self.format_type)
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        return cls(path=text(el, "path") or "", format_type=attr(el, "format", "type"))


@dataclass
class Volume(XMLObject):
    """`<volume>`: one volume in a pool, sizes in bytes."""

    tag: ClassVar[str] = "volume"

    name: str
    capacity_bytes: int
    allocation_bytes: int | None = None
    format_type: str | None = None
    target_path: str | None = None
    target_mode: str | None = None
    backing_store: BackingStore | None = None

    def to_element(self) -> ET.Element:
        el = element("volume")
        sub(el, "name", self.name)
        sub(el, "capacity", str(self.capacity_bytes), unit="bytes")
        if self.allocation_bytes is not None:
            sub(el, "allocation", str(self.allocation_bytes), unit="bytes")
        el.append(self._target_element())
        if self.backing_store is not None:
            el.append(self.backing_store.to_element())
        return el

    def _target_element(self) -> ET.Element:
        target = element("target")
        if self.target_path is not None:
            sub(target, "path", self.target_path)
        if self.format_type is not None:
            sub(target, "format", type=self.format_type)
        if self.target_mode is not None:
            permissions = sub(target, "permissions")
            sub(permissions, "mode", self.target_mode)
        return target

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        # libvirt writes an empty <backingStore/> for volumes without one.
        backing = el.find("backingStore[path]")
        return cls(
            name=text(el, "name") or "",
            capacity_bytes=_bytes(el.find("capacity")) or 0,
            allocation_bytes=_bytes(el.find("allocation")),
            format_type=attr(el, "target/format", "type"),
            target_path=text(el, "target/path"),
            target_mode=text(el, "target/permissions/mode"),
            backing_store=_optional_backing(backing),
        )


def _optional_backing(el: ET.Element | None) -> BackingStore | None:
    return None if el is None else BackingStore.from_element(el)


def _bytes(el: ET.Element | None) -> int | None:
    # libvirt reports volume sizes with unit='bytes'; anything else is not ours.
    if el is None:
        return None
    if el.get("unit", "bytes") not in ("bytes", "b"):
        raise ValueError(f"unexpected unit {el.get('unit')!r} in <{el.tag}>")
    return opt_int((el.text or "").strip() or None)
