"""IPv4 and MAC addresses for droplets on the public network."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoal.control.config import NetworkConfig
from shoal.control.errors import Unprocessable
from shoal.control.models import Droplet

# QEMU's own OUI; the low 24 bits are the droplet id, so MACs never collide
# between droplets of one Shoal.
MAC_PREFIX = "52:54:00"


def mac_for(droplet_id: int) -> str:
    low = droplet_id & 0xFFFFFF
    return MAC_PREFIX + "".join(f":{(low >> shift) & 0xFF:02x}" for shift in (16, 8, 0))


def free_ipv4(session: Session, network: NetworkConfig) -> str:
    """The lowest host address no droplet holds (the gateway is .1)."""
    taken = set(session.scalars(select(Droplet.ipv4).where(Droplet.ipv4.is_not(None))))
    taken.add(str(network.gateway))
    for host in network.network.hosts():
        if str(host) not in taken:
            return str(host)
    raise Unprocessable(f"No free address left on {network.cidr}.")
