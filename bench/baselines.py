"""What a libvirt user would do instead of Shoal, for the same guest.

The floor: an overlay made with ``qemu-img`` and ``virsh create`` from the
XML Shoal itself defined (renamed, with its own disk, MAC and console), so
the two differ only in what Shoal does around libvirt. virt-install: the
same overlay, then ``virt-install --import`` with the equivalent disk,
seed CD-ROM, network and SMBIOS options.

Both attach a copy of a seed ISO Shoal made: building the seed is part of
Shoal's work and none of the floor's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import libvirt

from bench.lab import RUN, remove_domain


@dataclass
class Template:
    """One Shoal droplet's definition, to start look-alikes from."""

    xml: str
    base_image: Path
    seed: Path | None
    network: str
    filterref: str | None
    filter_parameters: list[tuple[str, str]]
    memory_mib: int
    vcpus: int
    virt_type: str
    disk_bytes: int
    workdir: Path


def capture(conn: libvirt.virConnect, domain: str, workdir: Path) -> Template:
    """Read a running droplet's XML and keep a copy of its seed ISO."""
    dom = conn.lookupByName(domain)
    xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    root = ET.fromstring(xml)
    disk_path = root.find("devices/disk[@device='disk']/source").get("file")
    filterref = root.find("devices/interface/filterref")

    workdir.mkdir(mode=0o755, exist_ok=True)
    return Template(
        xml=xml,
        base_image=Path(_backing_file(disk_path)),
        seed=_copy_seed(root, workdir),
        network=root.find("devices/interface/source").get("network"),
        filterref=filterref.get("filter") if filterref is not None else None,
        filter_parameters=[
            (p.get("name"), p.get("value"))
            for p in root.findall("devices/interface/filterref/parameter")
        ],
        memory_mib=int(root.findtext("memory")) // 1024,
        vcpus=int(root.findtext("vcpu")),
        virt_type=root.get("type"),
        disk_bytes=dom.blockInfo("vda")[0],
        workdir=workdir,
    )


def _copy_seed(root: ET.Element, workdir: Path) -> Path | None:
    """A copy of the droplet's seed CD-ROM, if it has one (with the metadata
    service alone it has none)."""
    source = root.find("devices/disk[@device='cdrom']/source")
    if source is None:
        return None
    seed = workdir / "seed.iso"
    shutil.copyfile(source.get("file"), seed)
    seed.chmod(0o644)
    return seed


def _backing_file(overlay: str) -> str:
    info = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", overlay],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(info)["full-backing-filename"]


# Apart from the 52:54:00 range Shoal gives droplets, one prefix per kind.
_MAC_PREFIX = {"floor": "52:54:01", "vi": "52:54:02", "bare": "52:54:03"}


def _names(template: Template, kind: str, index: int) -> tuple[str, Path, str]:
    name = f"bench-{RUN}-{kind}-{index}"
    overlay = template.workdir / f"{name}.qcow2"
    mac = f"{_MAC_PREFIX[kind]}:{RUN:02x}:{index // 256:02x}:{index % 256:02x}"
    return name, overlay, mac


def _make_overlay(template: Template, overlay: Path) -> None:
    subprocess.run(
        [
            "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
            "-b", str(template.base_image), str(overlay), str(template.disk_bytes),
        ],
        check=True,
    )  # fmt: skip


def floor(template: Template, index: int, kind: str = "floor") -> float:
    """Seconds from nothing to a running domain: qemu-img, then virsh create.

    ``kind="bare"`` leaves the network filter out, to show what it costs.
    """
    name, overlay, mac = _names(template, kind, index)
    xml_path = template.workdir / f"{name}.xml"
    xml = _look_alike(template, name, overlay, mac, filtered=kind != "bare")
    xml_path.write_text(xml)

    started = time.monotonic()
    _make_overlay(template, overlay)
    subprocess.run(
        ["virsh", "-q", "create", str(xml_path)], check=True, capture_output=True
    )
    return time.monotonic() - started


def bare_floor(template: Template, index: int) -> float:
    return floor(template, index, "bare")


def _look_alike(
    template: Template, name: str, overlay: Path, mac: str, filtered: bool
) -> str:
    root = ET.fromstring(template.xml)
    root.find("name").text = name
    # libvirt picks a UUID; the SMBIOS copy of Shoal's must go with it.
    root.remove(root.find("uuid"))
    system = root.find("sysinfo/system")
    system.remove(system.find("entry[@name='uuid']"))
    root.find("devices/disk[@device='disk']/source").set("file", str(overlay))
    if template.seed is not None:
        cdrom = root.find("devices/disk[@device='cdrom']/source")
        cdrom.set("file", str(template.seed))
    interface = root.find("devices/interface")
    interface.find("mac").set("address", mac)
    if not filtered and interface.find("filterref") is not None:
        interface.remove(interface.find("filterref"))
    for log in root.iter("log"):
        log.set("file", str(template.workdir / f"{name}.log"))
    return ET.tostring(root, encoding="unicode")


def virt_install(template: Template, index: int) -> float:
    """Seconds from nothing to a running domain: qemu-img, then virt-install."""
    name, overlay, mac = _names(template, "vi", index)
    console = template.workdir / f"{name}.log"
    command = [
        "virt-install", "--import", "--noautoconsole", "--quiet",
        "--name", name,
        "--memory", str(template.memory_mib),
        "--vcpus", str(template.vcpus),
        "--virt-type", template.virt_type,
        "--machine", "pc",
        # This osinfo-db predates Debian 12; 11 asks for the same devices.
        "--osinfo", "debian11",
        "--disk", f"path={overlay},format=qcow2,bus=virtio,cache=writeback,"
        "discard=unmap",
        *_seed_options(template),
        "--network", _network_option(template, mac),
        *_filter_parameters(template),
        "--sysinfo", "smbios,system.manufacturer=DigitalOcean,"
        f"system.product=Droplet,system.serial={index}",
        "--graphics", "none",
        "--serial", f"pty,log.file={console},log.append=on",
        "--rng", "/dev/urandom",
        "--memballoon", "virtio",
        "--boot", "hd",
    ]  # fmt: skip

    started = time.monotonic()
    _make_overlay(template, overlay)
    subprocess.run(command, check=True, capture_output=True)
    return time.monotonic() - started


def _seed_options(template: Template) -> list[str]:
    if template.seed is None:
        return []
    seed = f"path={template.seed},device=cdrom,bus=ide,target=hdc,format=raw"
    return ["--disk", seed]


def _network_option(template: Template, mac: str) -> str:
    option = f"network={template.network},model=virtio,mac={mac}"
    if template.filterref:
        option += f",filterref.filter={template.filterref}"
    return option


def _filter_parameters(template: Template) -> list[str]:
    # virt-install has no option for a filter's parameters (Shoal passes the
    # droplet's IP, which makes libvirt install the rules at start); its
    # XPath edits are what a user would type for them.
    options = []
    for n, (name, value) in enumerate(template.filter_parameters, start=1):
        parameter = f"./devices/interface/filterref/parameter[{n}]"
        options += ["--xml", f"{parameter}/@name={name}"]
        options += ["--xml", f"{parameter}/@value={value}"]
    return options


def is_running(
    conn: libvirt.virConnect, template: Template, kind: str, index: int
) -> bool:
    name, _, _ = _names(template, kind, index)
    state, _ = conn.lookupByName(name).state()
    return state == libvirt.VIR_DOMAIN_RUNNING


def remove(conn: libvirt.virConnect, template: Template, kind: str, index: int):
    """Take a look-alike away: domain, definition, overlay and console log."""
    name, overlay, _ = _names(template, kind, index)
    try:
        remove_domain(conn.lookupByName(name))
    except libvirt.libvirtError as err:
        if err.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise
    overlay.unlink(missing_ok=True)
    (template.workdir / f"{name}.log").unlink(missing_ok=True)
    (template.workdir / f"{name}.xml").unlink(missing_ok=True)
