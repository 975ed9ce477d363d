"""Nothing lost, nothing leaked: SIGKILL at every step of a create, a
delete, a resize, a rebuild and a snapshot; libvirtd restarting underneath,
many creates at once, a full disk under an overlay and under a snapshot.

Each scenario drives a real ``shoal serve`` and checks the invariants of
tests/e2e/invariants.py against libvirt itself after a restart.
"""

from __future__ import annotations

import subprocess
import time

import pytest
import yaml

from shoal.hypervisor.seed import read_seed_iso
from tests.e2e.invariants import api_images, settle, violations
from tests.e2e.lab import Installation

pytestmark = pytest.mark.e2e

SMALL = {"size": "s-1vcpu-512mb-10gb", "image": "debian-12-x64", "region": "lab1"}
CREATE_POINTS = [
    "create.after_overlay",
    "create.after_seed",
    "create.after_domain",
    "create.after_console",
    "create.after_reservation",
    "create.after_start",
]
DESTROY_POINTS = ["destroy.before_domain", "destroy.after_domain"]
RESIZE_POINTS = ["resize.after_define", "resize.after_grow"]
REBUILD_POINTS = [
    "rebuild.after_power_off",
    "rebuild.after_disk",
    "rebuild.after_seed",
    "rebuild.after_start",
]
SNAPSHOT_POINTS = ["snapshot.during_copy", "snapshot.after_copy"]


@pytest.fixture(scope="module")
def lab(libvirt_conn):
    installation = Installation("shoal-crash", subnet=31)
    yield installation
    installation.remove(libvirt_conn)


def crash_at(lab: Installation, point: str, request) -> None:
    """Start with the fault armed, make the request, see the process die."""
    lab.start(faults=f"{point}=crash")
    with lab.client() as api:
        response = request(api)
        assert response.status_code in (201, 202, 204), response.text
    try:
        code = lab.wait_exit(timeout=120)
    except subprocess.TimeoutExpired:
        # A server that never reached its fault point must not live on into
        # the next test, which starts another on the same state directory.
        lab.kill()
        raise
    assert code == -9, lab.log.read_text()[-3000:]


def delete_all(lab: Installation) -> None:
    with lab.client() as api:
        for droplet in api.get("/v2/droplets").json()["droplets"]:
            assert api.delete(f"/v2/droplets/{droplet['id']}").status_code == 204
        settle(api)


@pytest.mark.parametrize("point", CREATE_POINTS)
def test_sigkill_during_create_then_restart_keeps_invariants(lab, libvirt_conn, point):
    crash_at(
        lab, point, lambda api: api.post("/v2/droplets", json={**SMALL, "name": "c"})
    )

    lab.start()
    try:
        assert violations(lab, libvirt_conn) == []
        with lab.client() as api:
            creates = [a for a in settle(api) if a["type"] == "create"]
        # The interrupted create ran again from its start.
        assert max(creates, key=lambda a: a["id"])["status"] == "completed"
        delete_all(lab)
        assert violations(lab, libvirt_conn) == []
    finally:
        lab.stop()


@pytest.mark.parametrize("point", DESTROY_POINTS)
def test_sigkill_during_delete_then_restart_keeps_invariants(lab, libvirt_conn, point):
    lab.start()
    with lab.client() as api:
        droplet = api.post("/v2/droplets", json={**SMALL, "name": "d"}).json()[
            "droplet"
        ]
        settle(api)
    lab.stop()

    crash_at(lab, point, lambda api: api.delete(f"/v2/droplets/{droplet['id']}"))

    lab.start()
    try:
        with lab.client() as api:
            settle(api)
            assert api.get(f"/v2/droplets/{droplet['id']}").status_code == 404
        assert violations(lab, libvirt_conn) == []
        assert not [d for d in libvirt_conn.listAllDomains() if lab.owns(d)]
    finally:
        lab.stop()


def made_droplet(lab: Installation, name: str, *then: dict) -> dict:
    """A droplet whose create, and each action of `then`, completed."""
    lab.start()
    with lab.client() as api:
        droplet = api.post("/v2/droplets", json={**SMALL, "name": name}).json()
        droplet_id = droplet["droplet"]["id"]
        settle(api)
        for action in then:
            posted = api.post(f"/v2/droplets/{droplet_id}/actions", json=action)
            assert posted.status_code == 201, posted.text
            settle(api)
        droplet = api.get(f"/v2/droplets/{droplet_id}").json()["droplet"]
    lab.stop()
    return droplet


def restarted_action(lab: Installation, droplet: dict, type_: str) -> dict:
    """Start again after the crash; the droplet's newest action of `type_`."""
    lab.start()
    with lab.client() as api:
        settle(api)
        listed = api.get(f"/v2/droplets/{droplet['id']}/actions").json()["actions"]
    return max((a for a in listed if a["type"] == type_), key=lambda a: a["id"])


@pytest.mark.parametrize("point", RESIZE_POINTS)
def test_sigkill_during_resize_then_restart_keeps_invariants(lab, libvirt_conn, point):
    droplet = made_droplet(lab, "rs", {"type": "power_off"})
    resize = {"type": "resize", "size": "s-1vcpu-1gb", "disk": True}
    crash_at(lab, point, lambda api: api.post(_actions(droplet), json=resize))

    try:
        action = restarted_action(lab, droplet, "resize")
        assert action["status"] == "completed", lab.log.read_text()[-3000:]
        with lab.client() as api:
            after = api.get(f"/v2/droplets/{droplet['id']}").json()["droplet"]
        assert (after["size_slug"], after["memory"], after["disk"]) == (
            "s-1vcpu-1gb",
            1024,
            25,
        )
        # The domain's vCPUs, memory and disk are checked against these.
        assert violations(lab, libvirt_conn) == []
        delete_all(lab)
        assert violations(lab, libvirt_conn) == []
    finally:
        lab.stop()


@pytest.mark.parametrize("point", REBUILD_POINTS)
def test_sigkill_during_rebuild_then_restart_keeps_invariants(lab, libvirt_conn, point):
    droplet = made_droplet(lab, "rb")
    before = _mac_of(libvirt_conn, droplet)
    rebuild = {"type": "rebuild", "image": "debian-12-x64"}
    crash_at(lab, point, lambda api: api.post(_actions(droplet), json=rebuild))

    try:
        action = restarted_action(lab, droplet, "rebuild")
        assert action["status"] == "completed", lab.log.read_text()[-3000:]
        with lab.client() as api:
            after = api.get(f"/v2/droplets/{droplet['id']}").json()["droplet"]
        assert after["status"] == "active"
        assert after["networks"] == droplet["networks"]
        assert _mac_of(libvirt_conn, droplet) == before
        assert violations(lab, libvirt_conn) == []
        delete_all(lab)
        assert violations(lab, libvirt_conn) == []
    finally:
        lab.stop()


@pytest.mark.parametrize("point", SNAPSHOT_POINTS)
def test_sigkill_during_a_live_snapshot_then_restart_keeps_invariants(
    lab, libvirt_conn, point
):
    droplet = made_droplet(lab, "sn")
    snapshot = {"type": "snapshot", "name": f"crash-{point}"}
    crash_at(lab, point, lambda api: api.post(_actions(droplet), json=snapshot))

    try:
        action = restarted_action(lab, droplet, "snapshot")
        assert action["status"] == "completed", lab.log.read_text()[-3000:]
        images = [i for i in api_images(lab) if i["name"] == snapshot["name"]]
        assert len(images) == 1, images
        # One file per image: the copy the killed run began is gone.
        assert violations(lab, libvirt_conn) == []
        delete_all(lab)
        with lab.client() as api:
            assert api.delete(f"/v2/images/{images[0]['id']}").status_code == 204
        _wait_gone(lab.state_dir / "images" / "snapshots")
        assert violations(lab, libvirt_conn) == []
    finally:
        lab.stop()


def _actions(droplet: dict) -> str:
    return f"/v2/droplets/{droplet['id']}/actions"


def _wait_gone(folder, timeout: float = 30) -> None:
    # The engine removes a deleted image's file on its next pass.
    deadline = time.monotonic() + timeout
    while list(folder.iterdir()):
        assert time.monotonic() < deadline, list(folder.iterdir())
        time.sleep(0.5)


def _mac_of(conn, droplet: dict) -> str:
    domain = conn.lookupByName(f"droplet-{droplet['id']}")
    return domain.XMLDesc(0).split("<mac address='")[1].split("'")[0]


def test_running_droplets_survive_a_shoal_restart_untouched(lab, libvirt_conn):
    lab.start()
    with lab.client() as api:
        droplet = api.post("/v2/droplets", json={**SMALL, "name": "r"}).json()[
            "droplet"
        ]
        settle(api)
        before = api.get(f"/v2/droplets/{droplet['id']}").json()["droplet"]
    domain = libvirt_conn.lookupByName(f"droplet-{droplet['id']}")
    pid_before = _qemu_pid(domain.name())
    lab.stop()

    lab.start()
    try:
        with lab.client() as api:
            after = api.get(f"/v2/droplets/{droplet['id']}").json()["droplet"]
        assert after["status"] == "active"
        assert after["networks"] == before["networks"]
        assert _qemu_pid(domain.name()) == pid_before
        delete_all(lab)
    finally:
        lab.stop()


def test_libvirtd_restart_under_a_running_shoal(lab, libvirt_conn):
    lab.start()
    try:
        _stop_libvirtd()
        with lab.client() as api:
            # The API does not need libvirtd; the create waits for it.
            assert api.get("/v2/droplets").status_code == 200
            created = api.post("/v2/droplets", json={**SMALL, "name": "lv"})
            assert created.status_code == 202, created.text
            time.sleep(5)
            _start_libvirtd()
            libvirt_conn.reopen()
            settle(api, timeout=180)
            droplet_id = created.json()["droplet"]["id"]
            action = api.get(f"/v2/droplets/{droplet_id}/actions").json()["actions"][0]
            assert action["status"] == "completed", lab.log.read_text()[-3000:]
        delete_all(lab)
        assert violations(lab, libvirt_conn) == []
    finally:
        _start_libvirtd()
        lab.stop()


def test_B25_ten_creates_at_once_and_one_with_ten_names(lab, libvirt_conn):
    from concurrent.futures import ThreadPoolExecutor

    lab.start()
    try:
        with lab.client() as api:

            def one(index: int):
                return api.post("/v2/droplets", json={**SMALL, "name": f"p{index}"})

            with ThreadPoolExecutor(10) as pool:
                singles = list(pool.map(one, range(10)))
            multi = api.post(
                "/v2/droplets", json={**SMALL, "names": [f"m{i}" for i in range(10)]}
            )
            assert [r.status_code for r in singles] == [202] * 10
            assert multi.status_code == 202, multi.text
            assert len(multi.json()["links"]["actions"]) == 10

            actions = settle(api, timeout=300)
            assert {a["status"] for a in actions} == {"completed"}, actions
            droplets = api.get("/v2/droplets", params={"per_page": 50}).json()[
                "droplets"
            ]
        assert len(droplets) == 20
        assert violations(lab, libvirt_conn) == []
        _assert_own_seeds(lab, libvirt_conn, droplets)
        delete_all(lab)
        assert violations(lab, libvirt_conn) == []
    finally:
        lab.stop()


def _assert_own_seeds(lab, conn, droplets) -> None:
    pool = conn.storagePoolLookupByName(lab.pool)
    for droplet in droplets:
        path = pool.storageVolLookupByName(f"droplet-{droplet['id']}-seed.iso").path()
        with open(path, "rb") as iso:
            meta = yaml.safe_load(read_seed_iso(iso.read())["meta-data"])
        assert meta["instance-id"] == str(droplet["id"])
        assert meta["local-hostname"] == droplet["name"]


def _qemu_pid(domain: str) -> int:
    return int(open(f"/run/libvirt/qemu/{domain}.pid").read().strip())


def _stop_libvirtd() -> None:
    pid = int(open("/run/libvirtd.pid").read().strip())
    subprocess.run(["kill", str(pid)], check=True)
    deadline = time.monotonic() + 30
    while subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "libvirtd did not stop"
        time.sleep(0.2)


def _start_libvirtd() -> None:
    # The test runs inside the namespace, so libvirtd starts in it again.
    if subprocess.run(["virsh", "-q", "version"], capture_output=True).returncode == 0:
        return
    subprocess.run(["libvirtd", "-d"], check=True)
    deadline = time.monotonic() + 30
    while subprocess.run(["virsh", "-q", "version"], capture_output=True).returncode:
        assert time.monotonic() < deadline, "libvirtd did not come back"
        time.sleep(0.2)


def in_libvirtd_mounts(*command: str) -> subprocess.CompletedProcess:
    # `ip netns exec` gives each process its own mount namespace: a mount
    # must be made in libvirtd's, which writes the volumes (and whose
    # namespace QEMU's is cloned from).
    pid = open("/run/libvirtd.pid").read().strip()
    return subprocess.run(["nsenter", "-t", pid, "-m", *command], capture_output=True)


@pytest.fixture
def small_disk_lab(libvirt_conn):
    """An installation whose pool lives on an 8 MiB filesystem."""
    installation = Installation("shoal-full", subnet=32)
    disks = installation.state_dir / "disks"
    disks.mkdir(mode=0o755)
    mounted = in_libvirtd_mounts("mount", "-t", "tmpfs", "-o", "size=8m,mode=0755",
                                 "shoalfull", str(disks))  # fmt: skip
    assert mounted.returncode == 0, mounted.stderr
    yield installation
    installation.stop()
    in_libvirtd_mounts("umount", "-l", str(disks))
    installation.remove(libvirt_conn)


def test_disk_full_while_writing_the_overlay_errors_and_leaves_nothing(
    small_disk_lab, libvirt_conn
):
    lab = small_disk_lab
    filler = lab.state_dir / "disks" / "filler"
    in_libvirtd_mounts("dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=64")
    lab.start()
    try:
        with lab.client() as api:
            created = api.post("/v2/droplets", json={**SMALL, "name": "full"})
            assert created.status_code == 202, created.text
            (action,) = [a for a in settle(api) if a["type"] == "create"]
            assert action["status"] == "errored"
            droplet_id = created.json()["droplet"]["id"]
            assert api.get(f"/v2/droplets/{droplet_id}").status_code == 404
        assert "No space left" in lab.log.read_text()
        assert violations(lab, libvirt_conn) == []
        assert set(libvirt_conn.storagePoolLookupByName(lab.pool).listVolumes()) <= {
            "filler"
        }

        # Space again: the same request now succeeds.
        in_libvirtd_mounts("rm", str(filler))
        with lab.client() as api:
            again = api.post("/v2/droplets", json={**SMALL, "name": "full"})
            creates = [a for a in settle(api) if a["type"] == "create"]
            latest = max(creates, key=lambda a: a["id"])
            assert latest["status"] == "completed", lab.log.read_text()[-2000:]
        delete_all(lab)
        assert violations(lab, libvirt_conn) == []
        assert again.status_code == 202
    finally:
        lab.stop()


@pytest.fixture
def small_snapshot_lab(libvirt_conn):
    """An installation whose snapshots go to an 8 MiB filesystem."""
    installation = Installation("shoal-fullsnap", subnet=33)
    folder = installation.state_dir / "images" / "snapshots"
    folder.mkdir(parents=True, mode=0o755)
    # An off droplet's snapshot is written by Shoal's own qemu-img, in this
    # process's mount namespace, which shoal serve inherits.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755",
                    "shoalfullsnap", str(folder)], check=True)  # fmt: skip
    yield installation
    installation.stop()
    subprocess.run(["umount", "-l", str(folder)])
    installation.remove(libvirt_conn)


def test_disk_full_while_writing_a_snapshot_errors_and_leaves_nothing(
    small_snapshot_lab, libvirt_conn
):
    lab = small_snapshot_lab
    droplet = made_droplet(lab, "fs", {"type": "power_off"})
    lab.start()
    try:
        with lab.client() as api:
            posted = api.post(
                _actions(droplet), json={"type": "snapshot", "name": "too-big"}
            )
            assert posted.status_code == 201, posted.text
            settle(api)
            action_id = posted.json()["action"]["id"]
            action = api.get(f"/v2/actions/{action_id}").json()["action"]
            after = api.get(f"/v2/droplets/{droplet['id']}").json()["droplet"]
        assert action["status"] == "errored", lab.log.read_text()[-3000:]
        assert "No space left" in lab.log.read_text()
        assert api_images(lab) == []
        assert after["snapshot_ids"] == []
        assert list((lab.state_dir / "images" / "snapshots").iterdir()) == []
        assert violations(lab, libvirt_conn) == []
        delete_all(lab)
    finally:
        lab.stop()
