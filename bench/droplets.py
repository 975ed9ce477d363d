"""Droplets through Shoal's API, the way a client sees them, with timings."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import libvirt

from bench.lab import IMAGE

SMALLEST = "s-1vcpu-512mb-10gb"
# Short enough not to blur a create that takes about a second, long enough
# that the polling itself is a small share of two busy cores.
POLL_SECONDS = 0.025


def create(
    client: httpx.Client, name: str, size: str = SMALLEST, image: str = IMAGE, **extra
) -> tuple[int, int]:
    """POST one droplet; returns (droplet id, create action id)."""
    body = {"name": name, "size": size, "image": image, "region": "lab1", **extra}
    answer = client.post("/v2/droplets", json=body)
    if answer.status_code != 202:
        raise RuntimeError(f"create {name}: {answer.status_code} {answer.text}")
    data = answer.json()
    return data["droplet"]["id"], data["links"]["actions"][0]["id"]


def wait_action(client: httpx.Client, action_id: int, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        action = client.get(f"/v2/actions/{action_id}").json()["action"]
        if action["status"] != "in-progress":
            return action
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"action {action_id} still in progress after {timeout}s")


@dataclass
class Created:
    droplet_id: int
    seconds: float
    # Wall-clock times, to line the create up with the server's log.
    posted_at: float
    seen_at: float


def create_and_wait(client: httpx.Client, name: str, **options) -> Created:
    """Time from POST to the create action ``completed`` (domain running)."""
    posted_at, started = time.time(), time.monotonic()
    droplet_id, action_id = create(client, name, **options)
    action = wait_action(client, action_id)
    elapsed = time.monotonic() - started
    if action["status"] != "completed":
        raise RuntimeError(f"droplet {droplet_id} create {action['status']}")
    return Created(droplet_id, elapsed, posted_at, time.time())


def delete(client: httpx.Client, droplet_id: int) -> None:
    answer = client.delete(f"/v2/droplets/{droplet_id}")
    if answer.status_code != 204:
        raise RuntimeError(f"delete {droplet_id}: {answer.status_code} {answer.text}")


def wait_gone(
    conn: libvirt.virConnect, pool_dir: Path, droplet_id: int, timeout: float = 120
) -> None:
    """Until the engine has removed the domain and both volumes."""
    domain = f"droplet-{droplet_id}"
    files = [pool_dir / f"{domain}.qcow2", pool_dir / f"{domain}-seed.iso"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _domain_exists(conn, domain) and not any(f.exists() for f in files):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{domain} still present {timeout}s after DELETE")


def _domain_exists(conn: libvirt.virConnect, name: str) -> bool:
    try:
        conn.lookupByName(name)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return False
        raise
    return True


def address(client: httpx.Client, droplet_id: int) -> str:
    droplet = client.get(f"/v2/droplets/{droplet_id}").json()["droplet"]
    (public,) = [n for n in droplet["networks"]["v4"] if n["type"] == "public"]
    return public["ip_address"]
