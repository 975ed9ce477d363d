"""Every droplet action handler on libvirt's test:/// driver, through the
real engine: what each does to the domain, its disks and the droplet row,
and that each reports `completed` only when that holds (issue 4).

The test driver shuts a domain off at once on an ACPI request, emits no
REBOOT event, and cannot change a running domain's media or copy disks;
those few steps are replaced here and tested for real in tests/e2e.
"""

from __future__ import annotations

import dataclasses
import subprocess
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from shoal.control import actions, handlers
from shoal.control.backups import BackupScheduler, full_policy
from shoal.control.domain_events import DomainEvents
from shoal.control.engine import Engine
from shoal.control.models import Action, Droplet, Image, utcnow
from shoal.control.provision import Provisioner
from shoal.control.status import StatusFollower
from shoal.hypervisor import events as hv_events
from shoal.hypervisor import lifecycle, media, network, storage
from shoal.images import capture
from shoal.images.errors import ImageBuildError
from tests.unit.test_engine import create, host, seed_without_upload, wait_done

__all__ = ["host", "seed_without_upload"]

GiB = 1024**3


@dataclasses.dataclass
class Stack:
    db: object
    settings: object
    host: object
    engine: Engine
    events: DomainEvents


@pytest.fixture(autouse=True)
def fresh_supported(monkeypatch):
    # install() adds to the process-wide set; the API tests expect it empty.
    monkeypatch.setattr(actions, "SUPPORTED", set())


@pytest.fixture
def stack(db, settings, host, base_image):
    hv_events.start_event_loop()
    settings.shutdown_timeout_seconds = 2.0
    settings.shutdown_resend_seconds = 0.3
    provisioner = Provisioner(settings, host, "qemu")
    provisioner.prepare_host()
    engine = Engine(db, settings, provisioner)
    events = DomainEvents()
    handlers.install(engine, events)
    follower = StatusFollower(db, host, events)
    follower.start()
    engine.start()
    yield Stack(db, settings, host, engine, events)
    engine.stop()
    follower.stop()


@pytest.fixture
def droplet(stack) -> int:
    """An active droplet on a running domain."""
    droplet_id, action_id = create(stack.db, stack.settings)
    stack.engine.wake()
    assert wait_done(stack.db, action_id).status == "completed"
    return droplet_id


def act(stack: Stack, droplet_id: int, type_: str, **params) -> Action:
    with stack.db.transaction() as session:
        droplet = session.get(Droplet, droplet_id)
        action_id = actions.record(session, droplet, type_, **params).id
    stack.engine.wake()
    return wait_done(stack.db, action_id)


def row(stack: Stack, droplet_id: int) -> Droplet:
    with stack.db.transaction() as session:
        return session.get(Droplet, droplet_id)


def domain_of(droplet_id: int) -> str:
    return f"droplet-{droplet_id}"


def wait_status(stack: Stack, droplet_id: int, status: str, timeout=5.0) -> float:
    started = time.monotonic()
    while row(stack, droplet_id).status != status:
        assert time.monotonic() - started < timeout, row(stack, droplet_id).status
        time.sleep(0.05)
    return time.monotonic() - started


def test_every_handled_type_is_supported_and_refused_ones_are_not(stack):
    assert actions.SUPPORTED == set(handlers.HANDLERS)
    assert not actions.SUPPORTED & set(actions.REFUSED)


def test_power_off_turns_the_domain_off_and_again_completes_at_once(stack, droplet):
    first = act(stack, droplet, "power_off")
    again = act(stack, droplet, "power_off")

    assert (first.status, again.status) == ("completed", "completed")
    assert lifecycle.state(stack.host, domain_of(droplet)) == "shutoff"
    assert row(stack, droplet).status == "off"


def test_power_on_starts_the_domain_and_on_a_running_one_completes(stack, droplet):
    act(stack, droplet, "power_off")

    assert act(stack, droplet, "power_on").status == "completed"
    assert act(stack, droplet, "power_on").status == "completed"
    assert lifecycle.state(stack.host, domain_of(droplet)) == "running"
    assert row(stack, droplet).status == "active"


def test_shutdown_completes_once_off_and_at_once_when_already_off(stack, droplet):
    assert act(stack, droplet, "shutdown").status == "completed"
    assert lifecycle.state(stack.host, domain_of(droplet)) == "shutoff"
    assert row(stack, droplet).status == "off"

    assert act(stack, droplet, "shutdown").status == "completed"


def test_B16_shutdown_ignored_by_the_guest_errors_within_the_bound(
    stack, droplet, monkeypatch
):
    presses = []
    monkeypatch.setattr(lifecycle, "shutdown", lambda host, name: presses.append(1))
    started = time.monotonic()

    action = act(stack, droplet, "shutdown")

    assert action.status == "errored"
    assert "did not power off within 2 s" in action.error
    assert time.monotonic() - started < 10
    assert len(presses) >= 3, "the ACPI request was not sent again"
    assert lifecycle.state(stack.host, domain_of(droplet)) == "running"
    assert row(stack, droplet).status == "active"
    assert act(stack, droplet, "power_off").status == "completed"


def test_reboot_completes_on_the_reboot_event_after_the_request(
    stack, droplet, monkeypatch
):
    presses = []

    def guest_resets_on_second_press(host, name):
        presses.append(1)
        if len(presses) == 2:
            stack.events.publish(name, "rebooted")

    monkeypatch.setattr(lifecycle, "reboot", guest_resets_on_second_press)

    action = act(stack, droplet, "reboot")

    assert action.status == "completed", action.error
    assert len(presses) == 2
    assert row(stack, droplet).status == "active"


def test_B16_reboot_ignored_by_the_guest_errors_and_stays_active(
    stack, droplet, monkeypatch
):
    monkeypatch.setattr(lifecycle, "reboot", lambda host, name: None)
    # A REBOOT event from before the request is no evidence.
    stack.events.publish(domain_of(droplet), "rebooted")

    action = act(stack, droplet, "reboot")

    assert action.status == "errored"
    assert "did not restart" in action.error
    assert row(stack, droplet).status == "active"


def test_reboot_of_an_off_droplet_errors(stack, droplet):
    act(stack, droplet, "power_off")

    action = act(stack, droplet, "reboot")

    assert action.status == "errored"
    assert "power_on" in action.error


def test_power_cycle_leaves_it_running(stack, droplet):
    assert act(stack, droplet, "power_cycle").status == "completed"
    assert lifecycle.state(stack.host, domain_of(droplet)) == "running"
    assert stack.events.count(domain_of(droplet), "stopped") >= 1


def test_domain_stopped_behind_shoals_back_reads_off_within_seconds(stack, droplet):
    lifecycle.destroy(stack.host, domain_of(droplet))
    assert wait_status(stack, droplet, "off") < 5

    lifecycle.start(stack.host, domain_of(droplet))
    assert wait_status(stack, droplet, "active") < 5


def test_B22_resize_without_disk_changes_cpus_and_memory_only(stack, droplet):
    name = domain_of(droplet)
    before = lifecycle.describe(stack.host, name)
    act(stack, droplet, "power_off")

    action = act(stack, droplet, "resize", size="s-2vcpu-2gb", disk=False)

    assert action.status == "completed", action.error
    after = lifecycle.describe(stack.host, name)
    assert (after.vcpus, after.memory_mib) == (2, 2048)
    assert after.uuid == before.uuid
    assert lifecycle.mac_addresses(stack.host, name) == [
        i.mac for i in before.interfaces()
    ]
    assert [d.source_file for d in after.disks()] == [
        d.source_file for d in before.disks()
    ]
    assert storage.volume_capacity(stack.host, "shoal", f"{name}.qcow2") == 25 * GiB
    resized = row(stack, droplet)
    assert (resized.size_slug, resized.vcpus, resized.memory, resized.disk) == (
        "s-2vcpu-2gb",
        2,
        2048,
        25,
    )


def test_B22_resize_with_disk_grows_the_overlay(stack, droplet, monkeypatch):
    # The test driver cannot resize volumes; the real one is grown in e2e.
    grown = []
    monkeypatch.setattr(storage, "resize_volume", lambda *args: grown.append(args[2:]))
    act(stack, droplet, "power_off")

    action = act(stack, droplet, "resize", size="s-2vcpu-2gb", disk=True)

    assert action.status == "completed", action.error
    assert grown == [(f"{domain_of(droplet)}.qcow2", 60 * GiB)]
    assert row(stack, droplet).disk == 60
    assert lifecycle.describe(stack.host, domain_of(droplet)).vcpus == 2


def test_B22_resize_never_touches_a_running_domain(stack, droplet):
    before = lifecycle.describe(stack.host, domain_of(droplet))

    action = act(stack, droplet, "resize", size="s-2vcpu-2gb", disk=True)

    assert action.status == "errored"
    after = lifecycle.describe(stack.host, domain_of(droplet))
    assert (after.vcpus, after.memory_mib) == (before.vcpus, before.memory_mib)
    assert row(stack, droplet).size_slug == "s-1vcpu-1gb"


def test_resize_whose_disk_step_fails_puts_the_domain_back(stack, droplet, monkeypatch):
    act(stack, droplet, "power_off")

    def full(*args):
        raise OSError("no space left")

    monkeypatch.setattr(storage, "resize_volume", full)

    action = act(stack, droplet, "resize", size="s-2vcpu-2gb", disk=True)

    assert action.status == "errored"
    after = lifecycle.describe(stack.host, domain_of(droplet))
    assert (after.vcpus, after.memory_mib) == (1, 1024)
    assert row(stack, droplet).size_slug == "s-1vcpu-1gb"


def add_image(stack: Stack, droplet_id, kind="snapshot", path=None) -> int:
    with stack.db.transaction() as session:
        base = session.scalar(select(Image).where(Image.slug == "debian-12-x64"))
        image = Image(
            name="golden-1",
            type=kind,
            public=False,
            path=path or base.path,
            droplet_id=droplet_id,
            min_disk_size=25,
        )
        session.add(image)
        session.flush()
        return image.id


def test_rebuild_gives_a_fresh_disk_same_domain_and_runs(stack, droplet):
    name = domain_of(droplet)
    before = lifecycle.describe(stack.host, name)
    storage.delete_volume(stack.host, "shoal", f"{name}.qcow2")
    storage.create_overlay(stack.host, "shoal", f"{name}.qcow2", "/old.qcow2", GiB)
    image_id = add_image(stack, None, kind="base")

    action = act(stack, droplet, "rebuild", image=image_id)

    assert action.status == "completed", action.error
    volume = storage.describe_volume(stack.host, "shoal", f"{name}.qcow2")
    assert volume.capacity_bytes == 25 * GiB
    after = lifecycle.describe(stack.host, name)
    assert (after.uuid, after.interfaces()[0].mac) == (
        before.uuid,
        before.interfaces()[0].mac,
    )
    assert lifecycle.state(stack.host, name) == "running"
    rebuilt = row(stack, droplet)
    assert (rebuilt.image_id, rebuilt.status) == (image_id, "active")


def test_rebuild_onto_a_metadata_only_image_drops_the_seed_and_its_drive(
    stack, droplet
):
    image_id = add_image(stack, None, kind="base")
    with stack.db.transaction() as session:
        session.get(Image, image_id).metadata_service_only = True
    name = domain_of(droplet)

    action = act(stack, droplet, "rebuild", image=image_id)

    assert action.status == "completed", action.error
    assert not storage.volume_exists(stack.host, "shoal", f"{name}-seed.iso")
    devices = [d.device for d in lifecycle.describe(stack.host, name).disks()]
    assert devices == ["disk"]
    assert lifecycle.state(stack.host, name) == "running"


def test_restore_makes_the_disk_an_overlay_of_the_backup(stack, droplet):
    image_id = add_image(stack, droplet, kind="backup")

    action = act(stack, droplet, "restore", image=image_id)

    assert action.status == "completed", action.error
    assert row(stack, droplet).image_id == image_id
    assert lifecycle.state(stack.host, domain_of(droplet)) == "running"


def test_rebuild_onto_a_missing_image_file_errors_and_powers_back_on(stack, droplet):
    image_id = add_image(stack, None, kind="base", path="/nonexistent.qcow2")

    action = act(stack, droplet, "rebuild", image=image_id)

    assert action.status == "errored"
    assert "missing" in action.error
    assert lifecycle.state(stack.host, domain_of(droplet)) == "running"
    name = domain_of(droplet)
    assert storage.volume_exists(stack.host, "shoal", f"{name}.qcow2")


@pytest.fixture
def reloads(monkeypatch):
    """The test driver cannot change media; record the reloads instead."""
    calls = []

    def reload(host, name, cdrom):
        calls.append((name, cdrom.source_file))
        return True

    monkeypatch.setattr(media, "reload_media", reload)
    return calls


def test_rename_rewrites_the_seed_reloads_the_drive_and_the_reservation(
    stack, droplet, reloads, monkeypatch
):
    built = []
    monkeypatch.setattr(
        Provisioner,
        "_seed_image",
        lambda self, machine: built.append(machine.name) or b"\0" * 2048,
    )

    action = act(stack, droplet, "rename", name="renamed.example")

    assert action.status == "completed", action.error
    assert built == ["renamed.example"]
    name = domain_of(droplet)
    assert reloads == [
        (name, storage.volume_path(stack.host, "shoal", f"{name}-seed.iso"))
    ]
    assert row(stack, droplet).name == "renamed.example"
    droplet_row = row(stack, droplet)
    assert (droplet_row.mac, droplet_row.ipv4) in network.dhcp_hosts(
        stack.host, stack.settings.network.name
    )


def test_rename_seed_carries_the_new_local_hostname(stack, droplet):
    from shoal.control.provision import Machine
    from shoal.hypervisor.seed import read_seed_iso

    with stack.db.transaction() as session:
        machine = Machine.from_droplet(session.get(Droplet, droplet))
    renamed = dataclasses.replace(machine, name="web-2")

    files = read_seed_iso(stack.engine.provisioner._seed_image(renamed))

    assert b"local-hostname: web-2\n" in files["meta-data"]
    assert f"instance-id: '{droplet}'".encode() in files["meta-data"]


def openssl_hash(password: str, salt: str) -> str:
    done = subprocess.run(
        ["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
        input=password,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_password_reset_writes_the_file_0600_and_seeds_its_hash(
    stack, droplet, reloads, caplog
):
    caplog.set_level("DEBUG")

    action = act(stack, droplet, "password_reset")

    assert action.status == "completed", action.error
    path = stack.settings.password_dir / domain_of(droplet)
    password = path.read_text().strip()
    assert len(password) >= 16
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    stored = row(stack, droplet).root_password_hash
    salt = stored.split("$")[2]
    assert openssl_hash(password, salt) == stored
    assert reloads, "the running guest's drive was not given the new seed"
    assert password not in caplog.text
    assert stored not in caplog.text


def test_password_file_goes_with_its_droplet(stack, droplet, reloads):
    from shoal.control import droplets

    act(stack, droplet, "password_reset")
    with stack.db.transaction() as session:
        destroy_id = droplets.delete_droplet(session, droplet).id
    stack.engine.wake()

    assert wait_done(stack.db, destroy_id).status == "completed"
    assert not (stack.settings.password_dir / domain_of(droplet)).exists()


@pytest.fixture
def copies(monkeypatch):
    """qemu-img and libvirt's backup job need real files; write stand-ins."""
    from shoal.hypervisor import backup

    made = []

    def flatten(source, target):
        target.write_bytes(b"qcow2 stand-in")
        made.append(("flatten", source))

    def copy_live(host, name, disk, target, **_):
        open(target, "wb").write(b"qcow2 stand-in")
        made.append(("live", disk))

    monkeypatch.setattr(capture, "flatten", flatten)
    monkeypatch.setattr(backup, "copy_disk_live", copy_live)
    return made


def test_snapshot_of_an_off_droplet_flattens_its_disk_into_an_image(
    stack, droplet, copies
):
    act(stack, droplet, "power_off")

    action = act(stack, droplet, "snapshot", name="golden-1")

    assert action.status == "completed", action.error
    assert copies == [("flatten", storage.volume_path(
        stack.host, "shoal", f"{domain_of(droplet)}.qcow2"
    ))]  # fmt: skip
    with stack.db.transaction() as session:
        (image,) = session.scalars(select(Image).where(Image.type == "snapshot"))
        assert (image.name, image.public, image.droplet_id) == (
            "golden-1",
            False,
            droplet,
        )
        assert (image.min_disk_size, image.status) == (25, "available")
        assert image.path.startswith(str(stack.settings.snapshot_dir))
    assert (stack.settings.snapshot_dir.stat().st_mode & 0o777) == 0o755


def test_snapshot_whose_copy_fails_half_way_leaves_no_file_and_no_image(
    stack, droplet, monkeypatch
):
    # qemu-img convert on a full disk: part of the file written, then an error.
    def flatten(source, target):
        target.write_bytes(b"partial")
        raise ImageBuildError("qemu-img convert: error while writing: No space left")

    monkeypatch.setattr(capture, "flatten", flatten)
    act(stack, droplet, "power_off")

    action = act(stack, droplet, "snapshot", name="too-big")

    assert action.status == "errored"
    assert list(stack.settings.snapshot_dir.iterdir()) == []
    with stack.db.transaction() as session:
        images = session.scalars(select(Image).where(Image.type == "snapshot"))
        assert images.all() == []


def test_snapshot_of_a_running_droplet_is_copied_live(stack, droplet, copies):
    action = act(stack, droplet, "snapshot", name="live-1")

    assert action.status == "completed", action.error
    assert copies == [("live", "vda")]
    assert lifecycle.state(stack.host, domain_of(droplet)) == "running"


def test_backups_are_taken_when_due_and_only_the_newest_kept(stack, droplet, copies):
    stack.settings.backup_interval_seconds = 60
    enabled = act(stack, droplet, "enable_backups", backup_policy={"plan": "daily"})
    assert enabled.status == "completed"
    scheduler = BackupScheduler(stack.db, stack.settings, stack.engine.wake)

    assert scheduler.run_due() == []
    for hour in range(9):
        later = utcnow() + timedelta(minutes=2 * (hour + 1))
        assert scheduler.run_due(later) == [droplet]
        stack.engine.wake()
        with stack.db.transaction() as session:
            pending = session.scalars(
                select(Action).where(Action.type == "backup")
            ).all()
        assert wait_done(stack.db, pending[-1].id).status == "completed"

    with stack.db.transaction() as session:
        kept = session.scalars(
            select(Image).where(Image.type == "backup", Image.status == "available")
        ).all()
    assert len(kept) == 7
    assert row(stack, droplet).backups_enabled


def test_disable_backups_stops_the_schedule(stack, droplet, copies):
    act(stack, droplet, "enable_backups", backup_policy={"plan": "weekly"})
    scheduler = BackupScheduler(stack.db, stack.settings, stack.engine.wake)

    assert act(stack, droplet, "disable_backups").status == "completed"

    assert scheduler.run_due(utcnow() + timedelta(days=30)) == []
    assert row(stack, droplet).next_backup_at is None


def test_change_backup_policy_moves_the_window(stack, droplet):
    act(stack, droplet, "enable_backups", backup_policy={"plan": "daily", "hour": 4})

    policy = {"plan": "weekly", "weekday": "WED", "hour": 20}
    action = act(stack, droplet, "change_backup_policy", backup_policy=policy)

    assert action.status == "completed", action.error
    changed = row(stack, droplet)
    assert changed.backup_policy == full_policy(policy)
    assert changed.next_backup_at.weekday() == 2
    assert changed.next_backup_at.hour == 20


def test_enable_private_networking_completes(stack, droplet):
    assert act(stack, droplet, "enable_private_networking").status == "completed"
