"""Addresses on host network devices, outside what libvirt's networks manage.

The metadata service listens on 169.254.169.254 on a droplet bridge. libvirt
gives a bridge only the network's own gateway address, so the link-local one is
added here with iproute2. libvirt recreates the bridge when the network
restarts, which drops the address: call `ensure_address()` again after that.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import subprocess

log = logging.getLogger(__name__)

Address = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def ensure_address(device: str, cidr: str) -> None:
    """Give `device` the address `cidr` (e.g. `169.254.169.254/16`). Idempotent.

    Raises `subprocess.CalledProcessError` when `ip` fails (no such device, not
    permitted) and `OSError` when iproute2 is missing.
    """
    wanted = ipaddress.ip_interface(cidr)
    if wanted in addresses(device):
        return

    _ip("addr", "add", str(wanted), "dev", device)
    log.info("address added device=%s address=%s", device, wanted)


def addresses(device: str) -> list[Address]:
    """The addresses configured on `device`."""
    out = _ip("-json", "addr", "show", "dev", device)
    return [
        ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}")
        for link in json.loads(out or "[]")
        for info in link.get("addr_info", [])
    ]


def _ip(*args: str) -> str:
    result = subprocess.run(
        ["ip", *args], capture_output=True, text=True, check=True, timeout=10
    )
    return result.stdout


def device_socket(device: str, address: str, port: int) -> socket.socket:
    """A TCP socket bound to address:port on `device` only.

    Bound to the device, each droplet bridge has its own listener on
    169.254.169.254:80, and a request can only have come in through it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
        sock.bind((address, port))
    except OSError:
        sock.close()
        raise
    return sock
