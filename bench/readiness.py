"""Benchmark 4: from create to a guest you can use.

For each droplet: POST, then the create action ``completed`` (host side),
then SSH accepting the droplet's key as root, then ``cloud-init status``
saying ``done`` (the seed read, the key installed, user_data run). The
guest's own uptime at that moment tells how much of the wait was the boot
itself. The virt type is read from the running domain.

    python -m bench.readiness [--count 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

from bench import droplets, report
from bench.isolation import enter_namespace, host_lock
from bench.lab import IMAGE, Shoal, running_shoal

SSH_TIMEOUT = 600
USER_DATA = "#!/bin/sh\necho ready > /root/bench-ready\n"


def ssh(key: Path, address: str, command: str, timeout: float = 30):
    return subprocess.run(
        [
            "ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=2",
            "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
            f"root@{address}", command,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )  # fmt: skip


def _wait_ssh(key: Path, address: str) -> None:
    deadline = time.monotonic() + SSH_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if ssh(key, address, "true", timeout=10).returncode == 0:
                return
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"no SSH to {address} within {SSH_TIMEOUT}s")


def _key(shoal: Shoal) -> tuple[Path, int]:
    path = shoal.state_dir / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True
    )
    public = path.with_suffix(".pub").read_text().strip()
    answer = shoal.client.post(
        "/v2/account/keys", json={"name": "bench", "public_key": public}
    )
    answer.raise_for_status()
    return path, answer.json()["ssh_key"]["id"]


def _virt_type(conn: libvirt.virConnect, droplet_id: int) -> str:
    xml = conn.lookupByName(f"droplet-{droplet_id}").XMLDesc(0)
    return ET.fromstring(xml).get("type")


def one(shoal: Shoal, conn: libvirt.virConnect, key: Path, key_id: int, n: int):
    created = droplets.create_and_wait(
        shoal.client, f"ready-{n}", ssh_keys=[key_id], user_data=USER_DATA
    )
    started = time.monotonic() - created.seconds
    address = droplets.address(shoal.client, created.droplet_id)

    _wait_ssh(key, address)
    to_ssh = time.monotonic() - started
    status = ssh(key, address, "cloud-init status --wait", timeout=SSH_TIMEOUT)
    to_done = time.monotonic() - started
    uptime = float(ssh(key, address, "cut -d' ' -f1 /proc/uptime").stdout)
    if "status: done" not in status.stdout:
        raise RuntimeError(f"cloud-init did not finish: {status.stdout}")
    ran = ssh(key, address, "cat /root/bench-ready").stdout.strip()

    sample = {
        "virt_type": _virt_type(conn, created.droplet_id),
        "to_active_s": created.seconds,
        "to_ssh_s": to_ssh,
        "to_cloud_init_done_s": to_done,
        "guest_uptime_at_done_s": uptime,
        "user_data_ran": ran == "ready",
    }
    droplets.delete(shoal.client, created.droplet_id)
    droplets.wait_gone(conn, shoal.state_dir / "disks", created.droplet_id)
    return sample


def run(shoal: Shoal, conn: libvirt.virConnect, count: int) -> dict:
    key, key_id = _key(shoal)
    samples = []
    for n in range(count):
        samples.append(one(shoal, conn, key, key_id, n))
        print(f"droplet {n + 1}/{count} ready", file=sys.stderr)
    numbers = [k for k, v in samples[0].items() if isinstance(v, float)]
    return {
        "settings": {"count": count, "size": droplets.SMALLEST, "image": IMAGE},
        "virt_type": samples[0]["virt_type"],
        "samples": samples,
        "median": {k: statistics.median(s[k] for s in samples) for k in numbers},
    }


def render(result: dict) -> str:
    median = result["median"]
    rows = [
        ["create -> action completed (domain running)", median["to_active_s"]],
        ["create -> SSH accepts the key", median["to_ssh_s"]],
        ["create -> cloud-init status: done", median["to_cloud_init_done_s"]],
        ["guest uptime at cloud-init done", median["guest_uptime_at_done_s"]],
    ]
    settings = result["settings"]
    return "\n".join(
        [
            f"Guest readiness: {settings['image']}, {settings['size']}, "
            f"virt type {result['virt_type']}, medians of {settings['count']}",
            report.table(["milestone", "median s"], rows),
            "user_data ran: "
            + ", ".join(str(s["user_data_ran"]) for s in result["samples"]),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3)
    args = parser.parse_args(argv)
    enter_namespace("bench.readiness")

    with host_lock(), running_shoal() as shoal:
        conn = libvirt.open("qemu:///system")
        try:
            result = run(shoal, conn, args.count)
        finally:
            conn.close()

    print(render(result))
    print(f"\nwritten {report.write('readiness', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
