"""Addresses on host network devices, outside what libvirt's networks manage,
and what the host's kernel knows about a peer on them.

The metadata service listens on 169.254.169.254 on a droplet bridge. libvirt
gives a bridge only the network's own gateway address, so the link-local one is
added here with iproute2. libvirt recreates the bridge when the network
restarts, which drops the address: call `ensure_address()` again after that.

Who is on the other end of a connection is read from the kernel, never from
what the peer says: the link-layer source of the SYN that opened it (kept by
`TCP_SAVE_SYN`), and the host's neighbour table.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import struct
import subprocess

log = logging.getLogger(__name__)

Address = ipaddress.IPv4Interface | ipaddress.IPv6Interface

# linux/tcp.h; Python's socket module does not name them. TCP_SAVE_SYN = 2
# keeps the link-layer header too (Linux 5.10 and later).
TCP_SAVE_SYN = 27
TCP_SAVED_SYN = 28
SAVE_SYN_WITH_LINK_HEADER = 2

ETHERNET_HEADER = struct.Struct("!6s6sH")
ETH_P_IP = 0x0800
NO_MAC = "00:00:00:00:00:00"
ARP_TABLE = "/proc/net/arp"


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
    """A TCP socket bound to address:port on `device` only, that keeps the
    link-layer header of each connection's SYN (see `syn_source_mac`).

    Bound to the device, each droplet bridge has its own listener on
    169.254.169.254:80, a request can only have come in through it, and the
    answer leaves through it even when several bridges route 169.254/16.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
        sock.setsockopt(socket.IPPROTO_TCP, TCP_SAVE_SYN, SAVE_SYN_WITH_LINK_HEADER)
        sock.bind((address, port))
    except OSError:
        sock.close()
        raise
    return sock


def syn_source_mac(sock: socket.socket) -> str | None:
    """The source MAC of the frame that carried the SYN of accepted `sock`.

    Only for sockets accepted on a `device_socket()`. The kernel hands the
    saved SYN out once; None when it is gone, or when the SYN did not come
    over Ethernet from a real address (the host itself, over loopback).
    """
    saved = sock.getsockopt(socket.IPPROTO_TCP, TCP_SAVED_SYN, 512)
    return link_source_mac(saved)


def link_source_mac(saved_syn: bytes) -> str | None:
    """The Ethernet source address in a SYN saved with its link header."""
    if len(saved_syn) < ETHERNET_HEADER.size + 1:
        return None

    _dst, src, ethertype = ETHERNET_HEADER.unpack_from(saved_syn)
    version = saved_syn[ETHERNET_HEADER.size] >> 4
    if ethertype != ETH_P_IP or version != 4:
        return None

    mac = ":".join(f"{octet:02x}" for octet in src)
    return None if mac == NO_MAC else mac


def neighbour_mac(device: str, address: str) -> str | None:
    """The MAC the host's neighbour table holds for IPv4 `address` on `device`."""
    with open(ARP_TABLE) as table:
        next(table)
        for line in table:
            ip, _hw, _flags, mac, _mask, dev = line.split()
            if ip == address and dev == device and mac != NO_MAC:
                return mac.lower()
    return None
