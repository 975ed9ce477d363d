"""What a droplet's cloud-init reads: meta-data, vendor-data, network-config.

Each document is a dict dumped as YAML; user-data is passed on untouched.
"""

from __future__ import annotations

import ipaddress

import yaml

# DigitalOcean's own vendor data: keys go to root (disable_root: false), which
# every DigitalOcean client assumes when it connects as root@droplet.
VENDOR_CONFIG = {
    "disable_root": False,
    "manage_etc_hosts": True,
    "cloud_config_modules": [
        "ssh",
        "set_hostname",
        ["update_etc_hosts", "once-per-instance"],
    ],
    "cloud_final_modules": [
        "scripts-vendor",
        "scripts-per-once",
        "scripts-per-boot",
        "scripts-per-instance",
        "scripts-user",
    ],
}


def _dump(document: dict) -> str:
    return yaml.safe_dump(document, default_flow_style=False, sort_keys=False)


def vendor_data() -> str:
    return "#cloud-config\n" + _dump(VENDOR_CONFIG)


def meta_data(droplet_id: int, hostname: str, public_keys: list[str]) -> str:
    # instance-id is the droplet id, the same string as the SMBIOS serial and
    # the metadata service's id, so every datasource names the same instance.
    return _dump(
        {
            "instance-id": str(droplet_id),
            "local-hostname": hostname,
            "public-keys": list(public_keys),
        }
    )


def network_config(
    mac: str,
    address: str,
    network: ipaddress.IPv4Network,
    gateway: str,
    nameservers: list[str],
) -> str:
    """Version 1: every cloud-init renderer (ifupdown included) reads it."""
    subnet = {
        "type": "static",
        "address": f"{address}/{network.prefixlen}",
        "gateway": gateway,
    }
    if nameservers:
        subnet["dns_nameservers"] = list(nameservers)
    interface = {
        "type": "physical",
        "name": "eth0",
        "mac_address": mac.lower(),
        "subnets": [subnet],
    }
    return _dump({"version": 1, "config": [interface]})


def seed_files(
    droplet_id: int,
    hostname: str,
    public_keys: list[str],
    user_data: str | None,
    network_yaml: str,
) -> dict[str, bytes]:
    return {
        "meta-data": meta_data(droplet_id, hostname, public_keys).encode(),
        "user-data": (user_data or "").encode(),
        "vendor-data": vendor_data().encode(),
        "network-config": network_yaml.encode(),
    }
