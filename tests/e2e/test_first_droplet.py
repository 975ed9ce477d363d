"""The backbone, end to end: pydo creates a droplet from debian-12-x64 with an
SSH key and user_data; the guest boots on QEMU, runs it, and is reachable at
the address the API reports; delete leaves nothing behind."""

from __future__ import annotations

import hashlib
import subprocess
import time

import pytest
from azure.core.pipeline.policies import HeadersPolicy
from pydo import Client

from tests.e2e.guest import ssh, wait_for_ssh

pytestmark = pytest.mark.e2e

USER_DATA = """#!/bin/sh
echo "user_data ran as $(id -un) on $(hostname)" > /root/shoal-e2e.txt
"""


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
def cleanup(do):
    """Deletes every droplet a test made, even when the test failed."""
    made: list[int] = []
    yield made
    for droplet_id in made:
        do.droplets.destroy(droplet_id)


def wait_action(do: Client, action_id: int, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        action = do.actions.get(action_id)["action"]
        if action["status"] != "in-progress":
            return action
        time.sleep(0.5)
    raise AssertionError(f"action {action_id} still in progress after {timeout}s")


def test_first_droplet_boots_runs_user_data_and_deletes_cleanly(
    do, shoal, keypair, leftovers, cleanup, record_property
):
    key_path, public_key = keypair
    key = do.ssh_keys.create({"name": "e2e", "public_key": public_key})["ssh_key"]
    started = time.monotonic()

    created = do.droplets.create(
        {
            "name": "e2e-first",
            "region": "lab1",
            "size": "s-1vcpu-1gb",
            "image": "debian-12-x64",
            "ssh_keys": [key["id"]],
            "user_data": USER_DATA,
            "tags": ["e2e"],
        }
    )
    droplet_id = created["droplet"]["id"]
    cleanup.append(droplet_id)
    assert created["droplet"]["status"] == "new"

    action = wait_action(do, created["links"]["actions"][0]["id"])
    to_active = time.monotonic() - started
    assert action["status"] == "completed", action
    droplet = do.droplets.get(droplet_id)["droplet"]
    assert droplet["status"] == "active", droplet
    (public,) = [n for n in droplet["networks"]["v4"] if n["type"] == "public"]
    address = public["ip_address"]

    console = shoal.console(droplet_id)
    to_ssh = to_active + wait_for_ssh(key_path, address, console)
    record_property("create_to_active_s", round(to_active, 1))
    record_property("create_to_ssh_s", round(to_ssh, 1))
    print(f"create->active {to_active:.1f}s, create->ssh {to_ssh:.1f}s")

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ran = ssh(key_path, address, "cat /root/shoal-e2e.txt")
        if ran.returncode == 0:
            break
        time.sleep(2)
    assert ran.stdout.strip() == "user_data ran as root on e2e-first", ran
    assert ssh(key_path, address, "hostname").stdout.strip() == "e2e-first"
    addresses = ssh(key_path, address, "ip -4 -o addr show scope global").stdout
    assert f" {address}/" in addresses, addresses
    seen = ssh(
        key_path, address, "sha256sum /var/lib/cloud/instance/user-data.txt"
    ).stdout
    assert seen.split()[0] == hashlib.sha256(USER_DATA.encode()).hexdigest()

    assert do.droplets.destroy(droplet_id) is None
    gone = do.droplets.get(droplet_id)
    assert gone["id"] == "not_found", gone

    deadline = time.monotonic() + 60
    # The engine tears down after the 204: the console log goes last.
    while (leftovers(droplet_id) or console.exists()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert leftovers(droplet_id) == []
    assert not console.exists()
