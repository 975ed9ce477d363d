"""Droplet rows written straight into Shoal's database: load without VMs.

Each row looks like a droplet whose create finished: status ``active``, an
address and MAC, and its completed ``create`` action, so the API does for
it all it does for a real one.
"""

from __future__ import annotations

import ipaddress
import socket

from sqlalchemy import insert, select

from shoal.control.addresses import mac_for
from shoal.control.db import Database
from shoal.control.models import Action, Droplet, Image, utcnow

# Outside every network a benchmark gives libvirt; no guest ever holds one.
FIRST_ADDRESS = ipaddress.IPv4Address("10.200.0.0")


def fill(db_url: str, image_slug: str, count: int, first_id: int) -> range:
    """Insert ``count`` droplets from ``first_id`` on; returns their ids."""
    db = Database(db_url)
    ids = range(first_id, first_id + count)
    with db.transaction() as session:
        image_id = session.scalar(select(Image.id).where(Image.slug == image_slug))
        session.execute(
            insert(Droplet), [_droplet(i, n, image_id) for n, i in enumerate(ids)]
        )
        session.execute(insert(Action), [_create_action(i) for i in ids])
    db.engine.dispose()
    return ids


def _droplet(droplet_id: int, n: int, image_id: int) -> dict:
    return {
        "id": droplet_id,
        "name": f"load-{n}",
        "status": "active",
        "size_slug": "s-1vcpu-512mb-10gb",
        "region_slug": "lab1",
        "image_id": image_id,
        "memory": 512,
        "vcpus": 1,
        "disk": 10,
        "public_keys": [],
        "ipv4": str(FIRST_ADDRESS + n),
        "mac": mac_for(droplet_id),
        "host": socket.gethostname(),
        "deleted": False,
        "created_at": utcnow(),
    }


def _create_action(droplet_id: int) -> dict:
    now = utcnow()
    return {
        "type": "create",
        "status": "completed",
        "resource_id": droplet_id,
        "resource_type": "droplet",
        "region_slug": "lab1",
        "params": {},
        "started_at": now,
        "completed_at": now,
    }
