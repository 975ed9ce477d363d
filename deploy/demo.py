"""The quickstart's droplet: create it with pydo, wait, SSH in, show the proof.

Reads SHOAL_API (e.g. http://127.0.0.1:8080) and SHOAL_TOKEN.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from azure.core.pipeline.policies import HeadersPolicy
from pydo import Client

USER_DATA = """#!/bin/sh
echo "user_data ran on $(hostname) at $(date -u +%FT%TZ)" > /root/shoal-demo.txt
"""


def say(text: str) -> None:
    print(f"demo: {text}", flush=True)


def client(api: str, token: str) -> Client:
    # pydo refuses bearer tokens over plain HTTP with its default policy;
    # a header policy sends the same Authorization header.
    return Client(
        token,
        endpoint=api,
        authentication_policy=HeadersPolicy({"Authorization": f"Bearer {token}"}),
    )


def fresh_key(directory: Path) -> tuple[Path, str]:
    key = directory / f"id_ed25519_{os.getpid()}"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True
    )
    return key, key.with_suffix(".pub").read_text().strip()


def wait_action(do: Client, action_id: int, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        action = do.actions.get(action_id)["action"]
        if action["status"] != "in-progress":
            return action
        time.sleep(1)
    raise TimeoutError(f"action {action_id} still in progress")


def ssh(key: Path, address: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
            "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
            f"root@{address}", command,
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip


def wait_file(key: Path, address: str, path: str, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = ssh(key, address, f"cat {path}")
        if result.returncode == 0 and result.stdout.strip():
            return result.stdout.strip()
        time.sleep(3)
    raise TimeoutError(f"{path} did not appear on {address}")


def create_droplet(do: Client, public_key: str) -> dict:
    key = do.ssh_keys.create({"name": f"demo-{os.getpid()}", "public_key": public_key})
    return do.droplets.create(
        {
            "name": "shoal-demo",
            "region": "lab1",
            "size": "s-1vcpu-1gb",
            "image": "debian-12-x64",
            "ssh_keys": [key["ssh_key"]["fingerprint"]],
            "user_data": USER_DATA,
        }
    )


def main() -> int:
    do = client(os.environ["SHOAL_API"], os.environ["SHOAL_TOKEN"])
    keys = Path(os.environ.get("SHOAL_DEMO_DIR") or tempfile.mkdtemp())
    keys.mkdir(parents=True, exist_ok=True)
    key_path, public_key = fresh_key(keys)
    started = time.monotonic()

    created = create_droplet(do, public_key)
    droplet_id = created["droplet"]["id"]
    say(f"droplet {droplet_id} requested; waiting for its create action")

    action = wait_action(do, created["links"]["actions"][0]["id"])
    if action["status"] != "completed":
        say(f"create action {action['status']}")
        return 1
    droplet = do.droplets.get(droplet_id)["droplet"]
    public = next(n for n in droplet["networks"]["v4"] if n["type"] == "public")
    address = public["ip_address"]
    elapsed = time.monotonic() - started
    say(
        f"droplet {droplet_id} is {droplet['status']} at {address} after {elapsed:.0f}s"
    )

    say("waiting for SSH and the user_data script")
    proof = wait_file(key_path, address, "/root/shoal-demo.txt")
    say(f"SSH and user_data done after {time.monotonic() - started:.0f}s")
    print(proof, flush=True)
    say(f"droplet {droplet_id} keeps running: ssh -i {key_path} root@{address}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
