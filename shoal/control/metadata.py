"""The data each droplet reads from the metadata service, in DO's layout."""

from __future__ import annotations

from sqlalchemy import select

from shoal.control import cloudinit
from shoal.control.config import Settings
from shoal.control.db import Database
from shoal.control.models import Droplet


class MetadataSource:
    def __init__(self, db: Database, settings: Settings):
        self.db = db
        self.settings = settings
        self.bridge = settings.network.bridge

    def document_for_mac(self, mac: str) -> dict | None:
        with self.db.transaction() as session:
            droplet = session.scalar(
                select(Droplet).where(Droplet.mac == mac, Droplet.deleted.is_(False))
            )
            return self._document(droplet) if droplet is not None else None

    def _document(self, droplet: Droplet) -> dict:
        net = self.settings.network
        gateway = str(net.gateway)
        doc = {
            "droplet_id": droplet.id,
            "hostname": droplet.name,
            "vendor_data": cloudinit.vendor_data(),
            "public_keys": list(droplet.public_keys or []),
            "region": droplet.region_slug,
            "interfaces": {
                "public": [
                    {
                        "ipv4": {
                            "ip_address": droplet.ipv4,
                            "netmask": str(net.network.netmask),
                            "gateway": gateway,
                        },
                        "mac": droplet.mac,
                        "type": "public",
                    }
                ]
            },
            "floating_ip": {"ipv4": {"active": False}},
            "reserved_ip": {"ipv4": {"active": False}},
            "dns": {"nameservers": list(net.nameservers or [gateway])},
            "tags": sorted(t.name for t in droplet.tags),
            "features": {"dhcp_enabled": True},
        }
        if droplet.user_data is not None:
            doc["user_data"] = droplet.user_data
        return doc

    @staticmethod
    def tree(doc: dict) -> dict:
        """The directory view of a document: dicts are folders, str are leaves."""
        iface = doc["interfaces"]["public"][0]
        return {
            "id": str(doc["droplet_id"]),
            "hostname": doc["hostname"],
            "user-data": doc.get("user_data", ""),
            "vendor-data": doc["vendor_data"],
            "public-keys": "\n".join(doc["public_keys"]),
            "region": doc["region"],
            "interfaces": {
                "public": {
                    "0": {
                        "mac": iface["mac"],
                        "type": "public",
                        "ipv4": {
                            "address": iface["ipv4"]["ip_address"],
                            "netmask": iface["ipv4"]["netmask"],
                            "gateway": iface["ipv4"]["gateway"],
                        },
                    }
                }
            },
            "dns": {"nameservers": "\n".join(doc["dns"]["nameservers"])},
            "floating_ip": {"ipv4": {"active": "false"}},
            "reserved_ip": {"ipv4": {"active": "false"}},
            "tags": {name: name for name in doc["tags"]},
            "features": {"dhcp_enabled": "true"},
        }

    def lookup(self, doc: dict, path: str) -> str | None:
        node: dict | str = self.tree(doc)
        for part in [p for p in path.split("/") if p]:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        if isinstance(node, str):
            return node
        return "".join(
            k + ("/" if isinstance(v, dict) else "") + "\n" for k, v in node.items()
        )
