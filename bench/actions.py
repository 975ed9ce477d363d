"""How long each droplet action takes here, on one booted guest.

One droplet is created with an SSH key and booted until SSH answers and
cloud-init is done (so the guest hears the ACPI power button). Then every
action the engine performs runs on it in turn, in an order that each one's
precondition allows (resize only while off, restore after a snapshot). The
clock runs from the POST to the action's final status, seen by polling; the
table says the droplet's state before the action.

    python -m bench.actions
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import libvirt

from bench import droplets, report
from bench.isolation import enter_namespace, host_lock
from bench.lab import Shoal, running_shoal
from bench.readiness import SSH_TIMEOUT, _key, _wait_ssh, ssh

RESIZE_TO = "s-1vcpu-1gb"  # CPU and memory only: 10 GiB disk stays
GROW_TO = "s-1vcpu-2gb"  # and then the disk, to 50 GiB


def sequence(snapshot_id: Callable[[], int]) -> list[tuple[str, dict | Callable]]:
    """(label, request body) in order; restore needs the snapshot's id."""
    return [
        ("reboot", {"type": "reboot"}),
        ("shutdown", {"type": "shutdown"}),
        ("power_on", {"type": "power_on"}),
        ("power_cycle", {"type": "power_cycle"}),
        ("rename", {"type": "rename", "name": "bench-renamed"}),
        ("password_reset", {"type": "password_reset"}),
        ("snapshot (running)", {"type": "snapshot", "name": "bench-live"}),
        ("enable_backups", {"type": "enable_backups"}),
        ("disable_backups", {"type": "disable_backups"}),
        ("enable_private_networking", {"type": "enable_private_networking"}),
        ("power_off", {"type": "power_off"}),
        ("power_off (already off)", {"type": "power_off"}),
        ("resize (CPU, memory)", {"type": "resize", "size": RESIZE_TO}),
        ("resize (disk)", {"type": "resize", "size": GROW_TO, "disk": True}),
        ("snapshot (off)", {"type": "snapshot", "name": "bench-off"}),
        ("power_on (after resize)", {"type": "power_on"}),
        ("rebuild", {"type": "rebuild", "image": "debian-12-x64"}),
        ("restore", lambda: {"type": "restore", "image": snapshot_id()}),
        ("enable_ipv6", {"type": "enable_ipv6"}),
        ("change_kernel", {"type": "change_kernel", "kernel": 1}),
    ]


def run_action(shoal: Shoal, droplet_id: int, body: dict) -> dict:
    started = time.monotonic()
    posted = shoal.client.post(f"/v2/droplets/{droplet_id}/actions", json=body)
    if posted.status_code != 201:
        return {
            "status": f"refused {posted.status_code}",
            "seconds": time.monotonic() - started,
            "message": posted.json().get("message", ""),
        }
    action = droplets.wait_action(shoal.client, posted.json()["action"]["id"], 600)
    return {"status": action["status"], "seconds": time.monotonic() - started}


def run(shoal: Shoal) -> dict:
    key, key_id = _key(shoal)
    created = droplets.create_and_wait(shoal.client, "bench-actions", ssh_keys=[key_id])
    address = droplets.address(shoal.client, created.droplet_id)
    _wait_ssh(key, address)
    ssh(key, address, "cloud-init status --wait", timeout=SSH_TIMEOUT)

    def snapshot_id() -> int:
        listed = shoal.client.get(f"/v2/droplets/{created.droplet_id}/snapshots")
        return listed.json()["snapshots"][0]["id"]

    rows = []
    for label, body in sequence(snapshot_id):
        before = _status(shoal, created.droplet_id)
        measured = run_action(
            shoal, created.droplet_id, body() if callable(body) else body
        )
        rows.append({"action": label, "before": before, **measured})
        print(
            f"{label}: {measured['status']} {measured['seconds']:.1f}s", file=sys.stderr
        )
    return {
        "settings": {
            "size": droplets.SMALLEST,
            "resized_to": RESIZE_TO,
            "grown_to": GROW_TO,
        },
        "virt_type": _virt_type(created.droplet_id),
        "actions": rows,
    }


def _status(shoal: Shoal, droplet_id: int) -> str:
    return shoal.client.get(f"/v2/droplets/{droplet_id}").json()["droplet"]["status"]


def _virt_type(droplet_id: int) -> str:
    conn = libvirt.open("qemu:///system")
    try:
        xml = conn.lookupByName(f"droplet-{droplet_id}").XMLDesc(0)
    finally:
        conn.close()
    return xml.split("type='", 1)[1].split("'", 1)[0]


def render(result: dict) -> str:
    rows = [
        [r["action"], r["before"], r["status"], round(r["seconds"], 1)]
        for r in result["actions"]
    ]
    return "\n".join(
        [
            f"Droplet actions on one {result['settings']['size']} droplet, "
            f"virt type {result['virt_type']}",
            report.table(["action", "droplet before", "result", "seconds"], rows),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    enter_namespace("bench.actions")

    # shutdown and reboot wait for the guest; the bench allows them longer
    # than a first boot's wait for logind.
    settings = {"shutdown_timeout_seconds": 300}
    with host_lock(), running_shoal(settings) as shoal:
        result = run(shoal)

    print(render(result))
    print(f"\nwritten {report.write('actions', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
