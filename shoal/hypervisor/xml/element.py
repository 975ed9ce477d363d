"""The base of the typed libvirt XML objects, and small ElementTree helpers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import ClassVar, Self


class XMLObject:
    """One libvirt XML element, written with `to_xml()` and read with `from_xml()`.

    Subclasses hold plain values; `None` means "leave the attribute or element
    out" so libvirt applies its own default. Reading is for inspection: parts of a
    libvirt document that no class maps are skipped, so never redefine an object
    from a parsed copy.
    """

    tag: ClassVar[str]

    def to_element(self) -> ET.Element:
        raise NotImplementedError

    @classmethod
    def from_element(cls, el: ET.Element) -> Self:
        raise NotImplementedError

    def to_xml(self) -> str:
        el = self.to_element()
        ET.indent(el, space="  ")
        return ET.tostring(el, encoding="unicode") + "\n"

    @classmethod
    def from_xml(cls, text: str) -> Self:
        el = ET.fromstring(text)
        if el.tag != cls.tag:
            raise ValueError(f"expected <{cls.tag}>, got <{el.tag}>")
        return cls.from_element(el)


def element(tag: str, text: str | None = None, **attrs: str | None) -> ET.Element:
    """A new element; attributes whose value is None are left out."""
    el = ET.Element(tag, {k: v for k, v in attrs.items() if v is not None})
    el.text = text
    return el


def sub(
    parent: ET.Element, tag: str, text: str | None = None, **attrs: str | None
) -> ET.Element:
    """Append a child element built like `element()` and return it."""
    child = element(tag, text, **attrs)
    parent.append(child)
    return child


def attr(el: ET.Element, path: str, name: str) -> str | None:
    """Attribute `name` of the first element at `path` under `el`, if any."""
    found = el.find(path)
    return None if found is None else found.get(name)


def text(el: ET.Element, path: str) -> str | None:
    """Stripped text of the first element at `path` under `el`, if any."""
    found = el.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def on_off(flag: bool | None) -> str | None:
    """libvirt's spelling of a tri-state switch."""
    if flag is None:
        return None
    return "on" if flag else "off"


def parse_on_off(value: str | None) -> bool | None:
    if value is None:
        return None
    return value in ("on", "yes")


def opt_int(value: str | None) -> int | None:
    return None if value is None else int(value)


def opt_str(value: int | None) -> str | None:
    return None if value is None else str(value)
