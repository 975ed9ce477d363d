"""The data each droplet reads from the metadata service, in DigitalOcean's layout.

One document per droplet, served whole as ``/metadata/v1.json`` and as the
directory tree under ``/metadata/v1/``: folders list their entries one per
line, sub-folders with a trailing ``/``; leaves are bare text. Only what
exists is there: no private interface, no anchor or IPv6 address, since
Shoal gives droplets none (cloud-init's converter fails on an empty
interface list, and an invented address would be configured in the guest).
"""

from __future__ import annotations

from sqlalchemy import select

from shoal.control import cloudinit
from shoal.control.config import Settings
from shoal.control.db import Database
from shoal.control.models import Droplet

# A folder maps names to folders or leaves, in the order DigitalOcean lists them.
Node = dict[str, "Node"] | str


class MetadataSource:
    def __init__(self, db: Database, settings: Settings):
        self.db = db
        self.settings = settings
        self.bridge = settings.network.bridge

    def document_for_mac(self, mac: str) -> dict | None:
        """The v1.json of the droplet whose interface has `mac`, if any."""
        with self.db.transaction() as session:
            droplet = session.scalar(
                select(Droplet).where(
                    Droplet.mac == mac.lower(), Droplet.deleted.is_(False)
                )
            )
            return self._document(droplet) if droplet is not None else None

    def _document(self, droplet: Droplet) -> dict:
        gateway = str(self.settings.network.gateway)
        doc = {
            "droplet_id": droplet.id,
            "hostname": droplet.name,
            # The same vendor data as the seed's, a reset root password included.
            "vendor_data": cloudinit.vendor_data(droplet.root_password_hash),
            "public_keys": list(droplet.public_keys or []),
            "region": droplet.region_slug,
            "interfaces": {"public": [self._public_interface(droplet)]},
            "floating_ip": {"ipv4": {"active": False}},
            "reserved_ip": {"ipv4": {"active": False}},
            # cloud-init indexes dns.nameservers unguarded: never leave it out.
            "dns": {
                "nameservers": list(self.settings.network.nameservers or [gateway])
            },
            "tags": sorted(t.name for t in droplet.tags),
            "features": {"dhcp_enabled": True},
        }
        if droplet.user_data is not None:
            doc["user_data"] = droplet.user_data
        return doc

    def _public_interface(self, droplet: Droplet) -> dict:
        net = self.settings.network
        return {
            "ipv4": {
                "ip_address": droplet.ipv4,
                "netmask": str(net.network.netmask),
                "gateway": str(net.gateway),
            },
            "mac": droplet.mac,
            "type": "public",
        }


def tree(doc: dict) -> dict[str, Node]:
    """The `/metadata/v1/` folder of a v1.json document."""
    return {
        "id": str(doc["droplet_id"]),
        "hostname": doc["hostname"],
        "user-data": doc.get("user_data", ""),
        "vendor-data": doc["vendor_data"],
        "public-keys": "\n".join(doc["public_keys"]),
        "region": doc["region"],
        "interfaces": {
            kind: {str(i): _interface(iface) for i, iface in enumerate(ifaces)}
            for kind, ifaces in doc["interfaces"].items()
        },
        "dns": {"nameservers": "\n".join(doc["dns"]["nameservers"])},
        "floating_ip": _address_state(doc["floating_ip"]),
        "reserved_ip": _address_state(doc["reserved_ip"]),
        "tags": {name: name for name in doc["tags"]},
        "features": {k: _flag(v) for k, v in doc["features"].items()},
    }


def _interface(iface: dict) -> dict[str, Node]:
    folder: dict[str, Node] = {"mac": iface["mac"], "type": iface["type"]}
    for family in ("ipv4", "anchor_ipv4"):
        if family in iface:
            address = iface[family]
            folder[family] = {
                "address": address["ip_address"],
                "netmask": address["netmask"],
                "gateway": address["gateway"],
            }
    return folder


def _address_state(families: dict) -> dict[str, Node]:
    return {
        family: {key: _flag(value) for key, value in state.items()}
        for family, state in families.items()
    }


def _flag(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def lookup(folder: dict[str, Node], path: str) -> Node | None:
    """The folder or leaf at `path` (slash-separated, relative), or None."""
    node: Node = folder
    for part in path.strip("/").split("/") if path.strip("/") else []:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def listing(folder: dict[str, Node]) -> str:
    """A folder as DigitalOcean lists it: one entry a line, folders with `/`."""
    return "".join(
        name + ("/" if isinstance(node, dict) else "") + "\n"
        for name, node in folder.items()
    )
