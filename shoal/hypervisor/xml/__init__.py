"""Typed libvirt XML objects: domains, networks, storage pools and volumes."""

from shoal.hypervisor.xml.backup import BackupDisk, DomainBackup
from shoal.hypervisor.xml.domain import (
    CPU,
    OS,
    RNG,
    Clock,
    Console,
    Device,
    Disk,
    Domain,
    Features,
    Interface,
    MemBalloon,
    Serial,
    SysInfo,
)
from shoal.hypervisor.xml.network import (
    DHCP,
    DNS,
    IP,
    Bridge,
    DHCPHost,
    Forward,
    Network,
    Range,
)
from shoal.hypervisor.xml.nwfilter import Filter, FilterRef, Rule
from shoal.hypervisor.xml.storage import BackingStore, Pool, Volume

__all__ = [
    "CPU",
    "DHCP",
    "DNS",
    "IP",
    "OS",
    "RNG",
    "BackingStore",
    "BackupDisk",
    "Bridge",
    "Clock",
    "Console",
    "DHCPHost",
    "Device",
    "Disk",
    "Domain",
    "DomainBackup",
    "Features",
    "Filter",
    "FilterRef",
    "Forward",
    "Interface",
    "MemBalloon",
    "Network",
    "Pool",
    "Range",
    "Rule",
    "Serial",
    "SysInfo",
    "Volume",
]
