"""Every droplet action on real booted guests, through the API (issue 4):
the domain checked with libvirt, the guest over SSH.

Each boot under TCG costs a minute or more, so three droplets share the
work. A is shut down the moment its create completes (field report B16),
then goes through rename, password_reset and reboot, shutdown, snapshot,
resize, rebuild with power_cycle, restore and backups, in this file's order.
B ignores the ACPI power button once its user_data ran (B16); its scenario,
mostly waiting out the shutdown bound twice, runs in a thread from the start
and its tests at the end read what it recorded. C is built from A's
snapshot.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
import traceback
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import libvirt
import pytest

from shoal.hypervisor.seed import read_seed_iso
from tests.e2e.conftest import ACTION_SETTINGS, NETWORK, RUN
from tests.e2e.guest import ssh, wait_for_ssh

pytestmark = pytest.mark.e2e

SMALL = {"region": "lab1", "size": "s-1vcpu-1gb", "image": "debian-12-x64"}
BOUND = ACTION_SETTINGS["shutdown_timeout_seconds"]
IGNORE_ACPI = """#!/bin/sh
mkdir -p /etc/systemd/logind.conf.d
printf '[Login]\\nHandlePowerKey=ignore\\n' > /etc/systemd/logind.conf.d/ignore.conf
systemctl restart systemd-logind
touch /root/acpi-ignored
"""
MARKER = "/root/shoal-marker"
GiB = 1024**3

# What each action took here, printed at the end for the closing note.
DURATIONS: dict[str, float] = {}


class Api:
    def __init__(self, shoal):
        self.log = shoal.state_dir / "serve.log"
        self.http = httpx.Client(
            base_url=shoal.url,
            headers={"Authorization": f"Bearer {shoal.token}"},
            timeout=30,
        )

    def droplet(self, droplet_id: int) -> dict:
        return self.http.get(f"/v2/droplets/{droplet_id}").json()["droplet"]

    def address(self, droplet_id: int) -> str:
        v4 = self.droplet(droplet_id)["networks"]["v4"]
        (public,) = [n for n in v4 if n["type"] == "public"]
        return public["ip_address"]

    def create(self, name: str, key_id: int, **body) -> tuple[int, int]:
        body = {**SMALL, "name": name, "ssh_keys": [key_id], **body}
        response = self.http.post("/v2/droplets", json=body)
        assert response.status_code == 202, response.text
        created = response.json()
        return created["droplet"]["id"], created["links"]["actions"][0]["id"]

    def post(self, droplet_id: int, type_: str, **body) -> httpx.Response:
        return self.http.post(
            f"/v2/droplets/{droplet_id}/actions", json={"type": type_, **body}
        )

    def wait(self, action_id: int, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            action = self.http.get(f"/v2/actions/{action_id}").json()["action"]
            if action["status"] != "in-progress":
                return action
            time.sleep(0.25)
        raise AssertionError(f"action {action_id} in progress after {timeout}s")

    def act(
        self, droplet_id: int, type_: str, label: str = "", **body
    ) -> tuple[dict, float]:
        """Post an action, wait for it; the action and its seconds."""
        started = time.monotonic()
        response = self.post(droplet_id, type_, **body)
        assert response.status_code == 201, response.text
        action = self.wait(response.json()["action"]["id"])
        seconds = time.monotonic() - started
        label = label or type_
        DURATIONS.setdefault(label, round(seconds, 1))
        print(f"{label} droplet={droplet_id} {action['status']} {seconds:.1f}s")
        return action, seconds

    def done(self, droplet_id: int, type_: str, label: str = "", **body) -> float:
        action, seconds = self.act(droplet_id, type_, label, **body)
        assert action["status"] == "completed", self.why(action)
        return seconds

    def why(self, action: dict) -> str:
        """The action, and what Shoal logged about it (an action has no
        error field in DigitalOcean's API)."""
        lines = self.log.read_text(errors="replace").splitlines()
        about = [line for line in lines if f"action_id={action['id']} " in line]
        return f"{action}\n" + "\n".join(about[-5:] or lines[-30:])


@dataclass
class Fleet:
    api: Api
    key: Path
    shoal: object
    a: int
    b: int
    c: int | None = None
    c_create: int | None = None
    images: list[int] = field(default_factory=list)
    a_early: dict = field(default_factory=dict)
    b_record: dict = field(default_factory=dict)
    b_thread: threading.Thread | None = None

    def run(self, droplet_id: int, command: str) -> str:
        done = ssh(self.key, self.api.address(droplet_id), command, timeout=60)
        assert done.returncode == 0, done
        return done.stdout.strip()

    def ssh_ready(self, droplet_id: int) -> float:
        return wait_for_ssh(
            self.key, self.api.address(droplet_id), self.shoal.console(droplet_id)
        )

    def wait_for_file(self, droplet_id: int, path: str, timeout=300) -> None:
        deadline = time.monotonic() + timeout
        address = self.api.address(droplet_id)
        while ssh(self.key, address, f"test -e {path}").returncode != 0:
            assert time.monotonic() < deadline, f"{path} never appeared"
            time.sleep(3)


def _ids_from(shoal, first: int) -> None:
    """Droplet ids (so domain names) from `first` on: libvirtd is shared, and
    a domain left by another run under a low id would block ours (B18)."""
    with sqlite3.connect(shoal.state_dir / "shoal.db") as db:
        (current,) = db.execute("SELECT max(id) FROM droplets").fetchone()
        if (current or 0) < first:
            db.execute("DELETE FROM sqlite_sequence WHERE name = 'droplets'")
            db.execute("INSERT INTO sqlite_sequence VALUES ('droplets', ?)", (first,))


@pytest.fixture(scope="module")
def fleet(shoal, libvirt_conn, tmp_path_factory):
    _ids_from(shoal, 400_000 + RUN * 1000)
    key = tmp_path_factory.mktemp("keys") / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True
    )
    api = Api(shoal)
    public = key.with_suffix(".pub").read_text().strip()
    key_id = api.http.post(
        "/v2/account/keys", json={"name": "actions", "public_key": public}
    ).json()["ssh_key"]["id"]

    a, a_create = api.create("act-a", key_id)
    b, b_create = api.create("act-b", key_id, user_data=IGNORE_ACPI)
    fleet = Fleet(api, key, shoal, a, b)
    fleet.b_thread = threading.Thread(
        target=_record_b, args=(fleet, libvirt_conn, b_create), daemon=True
    )
    fleet.b_thread.start()

    created = api.wait(a_create)
    assert created["status"] == "completed", api.why(created)
    # B16: the power button within a second of the create completing.
    fleet.a_early = _step(fleet, libvirt_conn, a, "shutdown", "a: shutdown at boot")
    api.done(a, "power_on")
    DURATIONS["a: power_on to ssh"] = round(fleet.ssh_ready(a), 1)
    yield fleet

    fleet.b_thread.join(timeout=600)
    _remove(fleet, libvirt_conn)
    print("durations (s):", json.dumps(DURATIONS, indent=1))


def _remove(fleet: Fleet, libvirt_conn) -> None:
    from tests.e2e.conftest import POOL

    made = [d for d in (fleet.a, fleet.b, fleet.c) if d is not None]
    for droplet_id in made:
        fleet.api.http.delete(f"/v2/droplets/{droplet_id}")
    deadline = time.monotonic() + 120
    while _left(libvirt_conn, POOL, made) and time.monotonic() < deadline:
        time.sleep(1)
    for image_id in fleet.images:
        fleet.api.http.delete(f"/v2/images/{image_id}")
    assert _left(libvirt_conn, POOL, made) == []


def _reconnecting(conn, call):
    """`call(conn)`, again on a new connection if libvirtd restarted."""
    try:
        return call(conn)
    except libvirt.libvirtError:
        conn.reopen()
        return call(conn)


def _left(conn, pool: str, droplet_ids: list[int]) -> list[str]:
    return _reconnecting(conn, lambda c: _left_on(c, pool, droplet_ids))


def _left_on(conn, pool: str, droplet_ids: list[int]) -> list[str]:
    names = {f"droplet-{i}" for i in droplet_ids}
    found = [d.name() for d in conn.listAllDomains() if d.name() in names]
    volumes = conn.storagePoolLookupByName(pool)
    volumes.refresh()
    found += [
        v
        for v in volumes.listVolumes()
        if any(v.startswith((n + ".", n + "-")) for n in names)
    ]
    return found


def domain(conn, droplet_id: int) -> ET.Element:
    name = f"droplet-{droplet_id}"
    xml = _reconnecting(conn, lambda c: c.lookupByName(name).XMLDesc(0))
    return ET.fromstring(xml)


def domain_state(conn, droplet_id: int) -> str:
    name = f"droplet-{droplet_id}"
    running = _reconnecting(conn, lambda c: c.lookupByName(name).isActive())
    return "running" if running == 1 else "shutoff"


def qemu_img_info(path: str) -> dict:
    done = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", path],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def overlay_path(shoal, droplet_id: int) -> str:
    return str(shoal.state_dir / "disks" / f"droplet-{droplet_id}.qcow2")


# --- B: a guest that ignores the power button, recorded in a thread -------


def _record_b(fleet: Fleet, conn, create_id: int) -> None:
    record = fleet.b_record
    try:
        _b_scenario(fleet, conn, create_id, record)
    except BaseException:
        record["error"] = traceback.format_exc()


def _b_scenario(fleet: Fleet, conn, create_id: int, record: dict) -> None:
    api, b = fleet.api, fleet.b
    assert api.wait(create_id)["status"] == "completed"
    fleet.ssh_ready(b)
    fleet.wait_for_file(b, "/root/acpi-ignored")
    boot_id = fleet.run(b, "cat /proc/sys/kernel/random/boot_id")

    record["shutdown"] = _step(fleet, conn, b, "shutdown", "b: shutdown ignored")
    record["reboot"] = _step(fleet, conn, b, "reboot", "b: reboot ignored")
    record["reboot"]["same_boot"] = (
        fleet.run(b, "cat /proc/sys/kernel/random/boot_id") == boot_id
    )

    # B24: a second power_off 0.1 s after the first.
    first = api.post(b, "power_off")
    second = api.post(b, "power_off")
    started = time.monotonic()
    action = api.wait(first.json()["action"]["id"])
    record["power_off"] = {
        "codes": (first.status_code, second.status_code),
        "second": second.json(),
        "action": action,
        "seconds": time.monotonic() - started,
        "droplet": api.droplet(b)["status"],
        "domain": domain_state(conn, b),
    }
    listed = api.http.get(f"/v2/droplets/{b}/actions").json()["actions"]
    record["types"] = [a["type"] for a in reversed(listed)]


def _step(fleet: Fleet, conn, droplet_id: int, type_: str, label: str) -> dict:
    action, seconds = fleet.api.act(droplet_id, type_, label=label)
    return {
        "action": action,
        "seconds": seconds,
        "droplet": fleet.api.droplet(droplet_id)["status"],
        "domain": domain_state(conn, droplet_id),
    }


@pytest.fixture
def b_record(fleet) -> dict:
    fleet.b_thread.join(timeout=900)
    assert not fleet.b_thread.is_alive(), "B's scenario is still running"
    assert "error" not in fleet.b_record, fleet.b_record["error"]
    return fleet.b_record


# --- A: one droplet through every other action ---------------------------


def test_B16_shutdown_right_after_create_completes_once_the_guest_listens(fleet):
    # A guest on its first boot has logind (which hears the button) only
    # once cloud-init's first stage is done: at about 85 s here under TCG.
    early = fleet.a_early

    assert early["action"]["status"] == "completed", early
    assert (early["droplet"], early["domain"]) == ("off", "shutoff")
    assert early["seconds"] < BOUND


def test_rename_and_password_reset_show_in_the_guest_after_a_graceful_reboot(
    fleet, shoal, libvirt_conn
):
    api, a = fleet.api, fleet.a
    fleet.run(a, f"echo from-a > {MARKER} && sync")
    boot_id = fleet.run(a, "cat /proc/sys/kernel/random/boot_id")

    api.done(a, "rename", name="act-renamed")
    api.done(a, "password_reset")
    reboot_seconds = api.done(a, "reboot")
    fleet.ssh_ready(a)

    assert fleet.run(a, "cat /proc/sys/kernel/random/boot_id") != boot_id
    assert fleet.run(a, "hostname") == "act-renamed"
    assert api.droplet(a)["name"] == "act-renamed"
    seed = Path(shoal.state_dir / "disks" / f"droplet-{a}-seed.iso").read_bytes()
    assert b"local-hostname: act-renamed\n" in read_seed_iso(seed)["meta-data"]

    password_file = shoal.state_dir / "passwords" / f"droplet-{a}"
    assert password_file.stat().st_mode & 0o777 == 0o600
    password = password_file.read_text().strip()
    shadow = fleet.run(a, "getent shadow root | cut -d: -f2")
    salt = shadow.split("$")[2]
    expected = subprocess.run(
        ["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
        input=password,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert shadow == expected
    assert password not in (shoal.state_dir / "serve.log").read_text()
    assert reboot_seconds < BOUND


def test_power_actions_already_in_effect_complete_at_once(fleet, libvirt_conn):
    api, a = fleet.api, fleet.a
    assert api.done(a, "power_on", "power_on (already on)") < 5

    api.done(a, "shutdown")

    assert domain_state(libvirt_conn, a) == "shutoff"
    assert api.droplet(a)["status"] == "off"
    assert api.done(a, "shutdown", "shutdown (already off)") < 5
    assert api.done(a, "power_off", "power_off (already off)") < 5


def test_B07_snapshot_is_a_standalone_private_image_of_the_disk(fleet, shoal):
    api, a = fleet.api, fleet.a

    api.done(a, "snapshot", name="golden-1")

    (snap,) = api.http.get(f"/v2/droplets/{a}/snapshots").json()["snapshots"]
    fleet.images.append(snap["id"])
    image = api.http.get(f"/v2/images/{snap['id']}").json()["image"]
    assert (image["type"], image["public"], image["slug"]) == ("snapshot", False, None)
    assert (image["min_disk_size"], image["regions"]) == (25, ["lab1"])
    assert image["size_gigabytes"] > 0
    private = api.http.get("/v2/images", params={"private": "true"}).json()
    assert snap["id"] in [i["id"] for i in private["images"]]
    assert snap["id"] in api.droplet(a)["snapshot_ids"]
    listed = api.http.get("/v2/snapshots").json()["snapshots"]
    # /v2/snapshots gives ids as strings, as DigitalOcean does.
    assert str(snap["id"]) in [x["id"] for x in listed]
    files = list((shoal.state_dir / "images" / "snapshots").glob("*.qcow2"))
    (path,) = [str(f) for f in files]
    assert "backing-filename" not in qemu_img_info(path)
    assert Path(path).stat().st_mode & 0o777 == 0o644

    # C boots from it while A's resize goes on (checked further down).
    key_id = api.http.get("/v2/account/keys").json()["ssh_keys"][0]["id"]
    fleet.c, fleet.c_create = api.create("act-c", key_id, image=snap["id"])


def test_B22_B11_resize_follows_the_plan_and_the_disk_grows_at_boot(
    fleet, shoal, libvirt_conn
):
    api, a = fleet.api, fleet.a
    before = domain(libvirt_conn, a)
    mac = before.find("devices/interface/mac").get("address")
    address = api.address(a)

    api.done(a, "resize", "resize (cpu/ram)", size="s-1vcpu-2gb", disk=False)
    xml = domain(libvirt_conn, a)
    assert (xml.findtext("memory"), xml.findtext("vcpu")) == (str(2048 * 1024), "1")
    assert qemu_img_info(overlay_path(shoal, a))["virtual-size"] == 25 * GiB
    assert (api.droplet(a)["disk"], api.droplet(a)["size_slug"]) == (25, "s-1vcpu-2gb")

    api.done(a, "resize", size="s-1vcpu-1gb", disk=False)
    api.done(a, "resize", "resize (disk)", size="s-2vcpu-2gb", disk=True)
    shrink = api.post(a, "resize", size="s-1vcpu-1gb", disk=True)
    assert shrink.status_code == 422, shrink.text

    xml = domain(libvirt_conn, a)
    assert xml.findtext("vcpu") == "2"
    assert xml.findtext("uuid") == before.findtext("uuid")
    assert xml.find("devices/interface/mac").get("address") == mac
    assert qemu_img_info(overlay_path(shoal, a))["virtual-size"] == 60 * GiB
    assert api.droplet(a)["disk"] == 60

    api.done(a, "power_on", "power_on (resized)")
    DURATIONS["a: power_on to ssh, 60 GiB growpart"] = round(fleet.ssh_ready(a), 1)
    running = api.post(a, "resize", size="s-2vcpu-4gb", disk=False)
    assert running.status_code == 422, running.text
    assert api.address(a) == address
    assert fleet.run(a, "nproc") == "2"
    mem_kib = int(fleet.run(a, "awk '/MemTotal/ {print $2}' /proc/meminfo"))
    assert 1_800_000 < mem_kib <= 2048 * 1024
    assert int(fleet.run(a, "lsblk -bdno SIZE /dev/vda")) == 60 * GiB
    # growpart and resizefs ran at this boot.
    root_gib = int(fleet.run(a, "df -B1G --output=size / | tail -1"))
    assert root_gib >= 55, root_gib
    assert fleet.run(a, f"cat {MARKER}") == "from-a"


def test_B07_droplet_built_from_the_snapshot_has_the_marker(fleet):
    api, c = fleet.api, fleet.c
    assert api.wait(fleet.c_create)["status"] == "completed"
    fleet.ssh_ready(c)

    assert fleet.run(c, f"cat {MARKER}") == "from-a"
    image = api.droplet(c)["image"]
    assert (image["id"], image["slug"], image["type"]) == (
        fleet.images[0],
        None,
        "snapshot",
    )
    api.http.delete(f"/v2/droplets/{c}")


def test_B20_rebuild_then_power_cycle_fresh_disk_same_address_and_mac(
    fleet, libvirt_conn
):
    api, a = fleet.api, fleet.a
    before = domain(libvirt_conn, a)
    address = api.address(a)

    api.done(a, "rebuild", image="debian-12-x64")
    # Within a second of the rebuild: the guest is still in its boot loader.
    api.done(a, "power_cycle")
    fleet.ssh_ready(a)

    assert fleet.run(a, f"test -e {MARKER} || echo absent") == "absent"
    assert fleet.run(a, "hostname") == "act-renamed"
    after = domain(libvirt_conn, a)
    assert after.findtext("uuid") == before.findtext("uuid")
    mac = after.find("devices/interface/mac").get("address")
    assert mac == before.find("devices/interface/mac").get("address")
    assert api.address(a) == address
    assert f" {address}/" in fleet.run(a, "ip -4 -o addr show scope global")
    persistent = _reconnecting(
        libvirt_conn,
        lambda c: c.networkLookupByName(NETWORK["name"]).XMLDesc(
            libvirt.VIR_NETWORK_XML_INACTIVE
        ),
    )
    assert f"mac='{mac}'" in persistent and f"ip='{address}'" in persistent
    assert api.droplet(a)["image"]["slug"] == "debian-12-x64"


def test_restore_from_the_snapshot_brings_the_marker_back(fleet, shoal):
    api, a = fleet.api, fleet.a

    api.done(a, "restore", image=fleet.images[0])
    fleet.ssh_ready(a)

    assert fleet.run(a, f"cat {MARKER}") == "from-a"
    info = qemu_img_info(overlay_path(shoal, a))
    assert info["backing-filename"].startswith(str(shoal.state_dir / "images"))
    assert info["virtual-size"] == 60 * GiB


def test_backups_are_taken_live_on_schedule_and_listed(fleet, libvirt_conn):
    api, a = fleet.api, fleet.a

    api.done(a, "enable_backups", backup_policy={"plan": "weekly", "weekday": "SUN"})
    policy = api.http.get(f"/v2/droplets/{a}/backups/policy").json()["policy"]
    assert policy["backup_enabled"] is True
    assert policy["backup_policy"]["retention_period_days"] == 28
    assert api.droplet(a)["next_backup_window"]["start"]
    started = time.monotonic()
    backups = []
    while not backups and time.monotonic() - started < 120:
        time.sleep(2)
        backups = api.http.get(f"/v2/droplets/{a}/backups").json()["backups"]
    DURATIONS["backup: enable to listed"] = round(time.monotonic() - started, 1)
    api.done(a, "disable_backups")

    assert backups, "no backup was taken"
    fleet.images += [b["id"] for b in backups]
    assert backups[0]["type"] == "backup" and backups[0]["min_disk_size"] == 60
    assert domain_state(libvirt_conn, a) == "running"
    assert api.droplet(a)["next_backup_window"] is None
    types = [
        x["type"] for x in api.http.get(f"/v2/droplets/{a}/actions").json()["actions"]
    ]
    assert "backup" in types


def test_guest_that_powers_itself_off_reads_off_within_seconds(fleet, libvirt_conn):
    api, a = fleet.api, fleet.a

    ssh(fleet.key, api.address(a), "systemctl poweroff", timeout=60)
    domain_off = status_off = None
    deadline = time.monotonic() + 90
    while status_off is None and time.monotonic() < deadline:
        if domain_off is None and domain_state(libvirt_conn, a) == "shutoff":
            domain_off = time.monotonic()
        if api.droplet(a)["status"] == "off":
            status_off = time.monotonic()
            # Off since the look at the domain a moment ago, at the latest.
            domain_off = domain_off or status_off
        time.sleep(0.2)

    assert domain_off is not None and status_off is not None, api.droplet(a)
    # libvirt's lifecycle event, not the reconciler's minute-long pass.
    assert status_off - domain_off < 5
    DURATIONS["a: domain off to status off"] = round(status_off - domain_off, 1)


# --- B's record ---------------------------------------------------------


def test_B16_shutdown_ignored_by_the_guest_errors_within_the_bound(b_record):
    step = b_record["shutdown"]

    assert step["action"]["status"] == "errored", step
    assert BOUND <= step["seconds"] < BOUND + 30
    assert (step["droplet"], step["domain"]) == ("active", "running")


def test_B16_reboot_ignored_by_the_guest_errors_and_it_keeps_running(b_record):
    step = b_record["reboot"]

    assert step["action"]["status"] == "errored", step
    assert BOUND <= step["seconds"] < BOUND + 30
    assert (step["droplet"], step["domain"]) == ("active", "running")
    assert step["same_boot"] is True


def test_B16_B24_power_off_is_immediate_and_a_second_one_is_refused(b_record):
    step = b_record["power_off"]

    assert step["codes"] == (201, 422), step
    assert "pending" in step["second"]["message"]
    assert step["action"]["status"] == "completed"
    assert step["seconds"] < 10
    assert (step["droplet"], step["domain"]) == ("off", "shutoff")
    assert b_record["types"] == ["create", "shutdown", "reboot", "power_off"]
