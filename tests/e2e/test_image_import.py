"""A custom image, end to end: pydo imports the Debian qcow2 from a loopback
HTTP server, a droplet built on the imported image boots to SSH, and the
image's file outlives its DELETE until the droplet is gone."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from azure.core.pipeline.policies import HeadersPolicy
from pydo import Client

from shoal.images.builder import build_image
from tests.e2e.guest import ssh, wait_for_ssh
from tests.image_server import image_server

pytestmark = pytest.mark.e2e


@pytest.fixture
def do(shoal) -> Client:
    return Client(
        shoal.token,
        endpoint=shoal.url,
        authentication_policy=HeadersPolicy({"Authorization": f"Bearer {shoal.token}"}),
    )


@pytest.fixture
def keypair(tmp_path):
    key = tmp_path / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True
    )
    return key, key.with_suffix(".pub").read_text().strip()


@pytest.fixture
def mirror():
    with image_server() as server:
        yield server


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"{what} after {timeout}s")


def test_droplet_from_an_imported_image_boots_and_outlives_its_delete(
    do, shoal, keypair, mirror, leftovers, record_property
):
    key_path, public_key = keypair
    key = do.ssh_keys.create({"name": "e2e-import", "public_key": public_key})
    url = mirror.add("debian.qcow2", build_image("debian-12-x64"))
    started = time.monotonic()

    created = do.images.create_custom(
        {
            "name": "imported-debian",
            "url": url,
            "region": "lab1",
            "distribution": "Debian",
            "tags": ["e2e"],
        }
    )["image"]
    assert created["status"] == "NEW", created
    image = wait_for(
        lambda: _settled(do, created["id"]), 180, f"image {created['id']} still NEW"
    )
    imported_s = time.monotonic() - started
    assert image["status"] == "available", image
    record_property("import_s", round(imported_s, 1))

    _start_droplet_ids_apart(shoal.state_dir)
    droplet = do.droplets.create(
        {
            "name": "e2e-imported",
            "region": "lab1",
            "size": "s-1vcpu-1gb",
            "image": image["id"],
            "ssh_keys": [key["ssh_key"]["id"]],
        }
    )["droplet"]
    droplet_id = droplet["id"]
    try:
        address = wait_for(lambda: _address(do, shoal, droplet_id), 120, "no address")
        to_ssh = wait_for_ssh(key_path, address, shoal.console(droplet_id))
        record_property("imported_create_to_ssh_s", round(to_ssh, 1))
        print(f"import {imported_s:.1f}s, create->ssh {to_ssh:.1f}s")
        assert ssh(key_path, address, "hostname").stdout.strip() == "e2e-imported"

        # Deleted while the droplet runs on it: gone from the API, file kept.
        do.images.delete(image["id"])
        stored = _stored_file(shoal.state_dir, image["id"])
        time.sleep(2)
        assert stored.exists()
        assert ssh(key_path, address, "sync && echo ok").stdout.strip() == "ok"
    finally:
        do.droplets.destroy(droplet_id)

    wait_for(lambda: not leftovers(droplet_id), 60, "droplet not torn down")
    wait_for(lambda: not stored.exists(), 30, "image file not swept")


def _start_droplet_ids_apart(state_dir: Path) -> None:
    # Domains are named droplet-<id> on a libvirtd other installations
    # share (tests/e2e/lab.py does the same): a range of our own keeps
    # this droplet's name from meeting one another run left behind.
    first = 9_000_000 + (os.getpid() % 1000) * 1000
    with sqlite3.connect(state_dir / "shoal.db") as db:
        db.execute("DELETE FROM sqlite_sequence WHERE name = 'droplets'")
        db.execute("INSERT INTO sqlite_sequence VALUES ('droplets', ?)", (first,))


def _settled(do: Client, image_id: int) -> dict | None:
    image = do.images.get(image_id)["image"]
    return image if image["status"] != "NEW" else None


def _address(do: Client, shoal, droplet_id: int) -> str | None:
    found = do.droplets.get(droplet_id)
    # A failed create forgets its droplet; the reason is in the server log.
    assert "droplet" in found, (shoal.state_dir / "serve.log").read_text()[-3000:]
    droplet = found["droplet"]
    if droplet["status"] != "active":
        return None
    (public,) = [n for n in droplet["networks"]["v4"] if n["type"] == "public"]
    return public["ip_address"]


def _stored_file(state_dir: Path, image_id: int) -> Path:
    return state_dir / "images" / "custom" / f"custom-{image_id}.qcow2"
