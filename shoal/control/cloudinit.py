"""What a droplet's cloud-init reads: meta-data, vendor-data, network-config.

Each document is a dict dumped as YAML; user-data is passed on untouched.
"""

from __future__ import annotations

import hashlib
import ipaddress

import yaml

# DigitalOcean's vendor data: keys go to root (disable_root: false), which
# every DigitalOcean client assumes when it connects as root@droplet, and
# /etc/hosts names the droplet. The module lists of the vendor data captured
# in cloud-init's tests are left out: vendor data overrides the image's own
# lists, and those short ones would silently drop runcmd, packages, ntp and
# the rest from every droplet, which real droplets do run.
VENDOR_CONFIG = {
    "disable_root": False,
    "manage_etc_hosts": True,
}


def _dump(document: dict) -> str:
    return yaml.safe_dump(document, default_flow_style=False, sort_keys=False)


# Where the guest notes which password hash it has applied: cloud-init runs
# bootcmd at every boot, and a reset password must be set once, not again
# over one the user chose since.
PASSWORD_MARKER = "/var/lib/cloud/shoal-root-password"
_APPLY_PASSWORD = (
    'test "$(cat "$1" 2>/dev/null)" = "$2" && exit 0; '
    'echo "root:$3" | chpasswd -e && echo "$2" > "$1"'
)


def password_bootcmd(password_hash: str) -> list[str]:
    """A bootcmd entry that sets root's password hash once per new hash.

    bootcmd runs at every boot, and cloud-init reads the seed again at
    every boot, so a hash written into a new seed reaches an existing
    instance; per-instance modules such as set_passwords would not run
    again for the same instance-id. A list runs without a shell between, so
    the hash needs no quoting.
    """
    marker = hashlib.sha256(password_hash.encode()).hexdigest()[:16]
    return [
        "sh", "-c", _APPLY_PASSWORD, "shoal", PASSWORD_MARKER, marker, password_hash
    ]  # fmt: skip


def vendor_data(root_password_hash: str | None = None) -> str:
    config = dict(VENDOR_CONFIG)
    if root_password_hash:
        config["bootcmd"] = [password_bootcmd(root_password_hash)]
    return "#cloud-config\n" + _dump(config)


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
    root_password_hash: str | None = None,
) -> dict[str, bytes]:
    return {
        "meta-data": meta_data(droplet_id, hostname, public_keys).encode(),
        "user-data": (user_data or "").encode(),
        "vendor-data": vendor_data(root_password_hash).encode(),
        "network-config": network_yaml.encode(),
    }
