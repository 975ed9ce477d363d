"""Which virtual hardware a guest gets: the policy over the domain XML mapping.

Every choice the guest can observe is made here, so the golden files in
`tests/golden/` pin the whole contract with the guest in one place.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from dataclasses import dataclass

from shoal.hypervisor.nwfilter import droplet_filter_ref
from shoal.hypervisor.xml import (
    CPU,
    OS,
    RNG,
    Clock,
    Console,
    Disk,
    Domain,
    Features,
    Interface,
    MemBalloon,
    Serial,
    SysInfo,
)

VIRT_TYPES = ("kvm", "qemu")

# cloud-init's DigitalOcean datasource activates only on this exact DMI vendor.
SMBIOS_MANUFACTURER = "DigitalOcean"
SMBIOS_PRODUCT = "Droplet"

ROOT_DISK_DEV = "vda"
# On the i440fx `pc` machine, Debian's cloud-init finds the NoCloud CD-ROM on the
# IDE bus but not on SATA (measured; see DESIGN.md). hdc is IDE bus 1, unit 0.
SEED_CDROM_DEV = "hdc"

# writeback is QEMU's own default and, unlike `none`, needs no O_DIRECT, so it
# also works for pools on tmpfs or overlay filesystems. The guest sees a
# volatile write cache and sends flushes, so acknowledged fsyncs are durable.
ROOT_DISK_CACHE = "writeback"

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


@dataclass
class GuestSpec:
    """Everything that distinguishes one guest's domain from another's.

    `uuid=None` picks a random one; the domain and its SMBIOS data share it.
    `seed_path=None` leaves the seed CD-ROM out: the guest then configures
    itself from the metadata service alone. With `ipv4`, the interface
    carries the network filter that pins the guest to that address and its
    MAC (`shoal.hypervisor.nwfilter`).
    """

    name: str
    uuid: str | None
    vcpus: int
    memory_mib: int
    virt_type: str
    disk_path: str
    seed_path: str | None
    mac: str
    network: str
    smbios_serial: str
    console_log: str
    disk_format: str = "qcow2"
    emulator: str | None = None
    machine: str = "pc"
    tap_device: str | None = None
    ipv4: str | None = None

    def __post_init__(self) -> None:
        self.mac = self.mac.lower()
        self.uuid = str(uuidlib.UUID(self.uuid) if self.uuid else uuidlib.uuid4())

        if self.virt_type not in VIRT_TYPES:
            raise ValueError(f"virt_type must be one of {VIRT_TYPES}")
        if not _MAC.match(self.mac):
            raise ValueError(f"not a MAC address: {self.mac!r}")
        if self.vcpus < 1 or self.memory_mib < 1:
            raise ValueError("vcpus and memory_mib must be positive")


def build_domain(spec: GuestSpec) -> Domain:
    """The domain definition for `spec`."""
    return Domain(
        type=spec.virt_type,
        name=spec.name,
        uuid=spec.uuid,
        memory_mib=spec.memory_mib,
        vcpus=spec.vcpus,
        sysinfo=_sysinfo(spec),
        os=OS(
            arch="x86_64", machine=spec.machine, boot_devs=["hd"], smbios_mode="sysinfo"
        ),
        # ACPI lets the guest hear the power button, which graceful shutdown needs.
        features=Features(names=["acpi", "apic"]),
        cpu=_cpu(spec.virt_type),
        clock=Clock(offset="utc"),
        on_poweroff="destroy",
        on_reboot="restart",
        on_crash="destroy",
        emulator=spec.emulator,
        devices=[
            _root_disk(spec),
            *([_seed_cdrom(spec)] if spec.seed_path is not None else []),
            _interface(spec),
            Serial(type="pty", log_file=spec.console_log, log_append=True),
            Console(type="pty", target_type="serial", target_port=0),
            MemBalloon(model="virtio"),
            # Under TCG a guest can wait a long time for entropy without this.
            RNG(model="virtio", backend_model="random", backend_path="/dev/urandom"),
        ],
    )


def _sysinfo(spec: GuestSpec) -> SysInfo:
    # libvirt rejects a sysinfo uuid that differs from the domain's own.
    return SysInfo(
        type="smbios",
        system={
            "manufacturer": SMBIOS_MANUFACTURER,
            "product": SMBIOS_PRODUCT,
            "serial": spec.smbios_serial,
            "uuid": spec.uuid,
        },
    )


def _cpu(virt_type: str) -> CPU | None:
    # host-passthrough needs KVM; under TCG QEMU's default model is what works.
    if virt_type == "kvm":
        return CPU(mode="host-passthrough", check="none", migratable=True)
    return None


def _root_disk(spec: GuestSpec) -> Disk:
    return Disk(
        device="disk",
        driver_name="qemu",
        driver_type=spec.disk_format,
        driver_cache=ROOT_DISK_CACHE,
        # Lets guest TRIM free space in the thin overlay.
        driver_discard="unmap",
        source_file=spec.disk_path,
        target_dev=ROOT_DISK_DEV,
        target_bus="virtio",
    )


def _seed_cdrom(spec: GuestSpec) -> Disk:
    # Defined from the start, never hot-plugged: cloud-init scans devices early.
    return seed_cdrom(spec.seed_path)


def seed_cdrom(seed_path: str) -> Disk:
    """The seed CD-ROM drive holding `seed_path`, also for changing its media."""
    return Disk(
        device="cdrom",
        driver_name="qemu",
        driver_type="raw",
        source_file=seed_path,
        target_dev=SEED_CDROM_DEV,
        target_bus="ide",
        readonly=True,
    )


def _interface(spec: GuestSpec) -> Interface:
    return Interface(
        type="network",
        mac=spec.mac,
        source_network=spec.network,
        model_type="virtio",
        target_dev=spec.tap_device,
        filterref=droplet_filter_ref(spec.ipv4) if spec.ipv4 is not None else None,
    )
