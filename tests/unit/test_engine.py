"""The action engine on libvirt's test:/// driver: create and delete a
droplet for real as far as that driver goes, and a create that fails
halfway leaves nothing behind."""

from __future__ import annotations

import time

import pytest

from shoal.control import droplets
from shoal.control.engine import Engine
from shoal.control.faults import Faults
from shoal.control.models import Action, Droplet, Image
from shoal.control.provision import Provisioner
from shoal.control.reconcile import Reconciler
from shoal.hypervisor import lifecycle, network, storage
from shoal.hypervisor.connection import Host
from shoal.hypervisor.errors import libvirt_errors


@pytest.fixture
def host(settings):
    # A private test:/// driver instance per test: "test:///default" is
    # shared by every connection in the process.
    settings.libvirt_uri = "test:///default"
    with Host(settings.libvirt_uri) as opened:
        yield opened
        for name in lifecycle.list_domains(opened):
            lifecycle.remove_domain(opened, name)
        network.remove_network(opened, settings.network.name)
        storage.remove_pool(opened, settings.pool)


@pytest.fixture(autouse=True)
def seed_without_upload(monkeypatch):
    """libvirt's test driver cannot upload into a volume (virStorageVolUpload);
    the seed volume is created empty there. The real upload is tested on
    qemu:///system in tests/unit/hypervisor/test_system.py."""
    from shoal.hypervisor.xml import Volume

    def create_only(host, pool, vol_name, data):
        xml = Volume(
            name=vol_name, capacity_bytes=len(data), format_type="raw"
        ).to_xml()
        with libvirt_errors():
            host.connection().storagePoolLookupByName(pool).createXML(xml, 0)
        return storage.volume_path(host, pool, vol_name)

    monkeypatch.setattr(storage, "upload_volume", create_only)


@pytest.fixture
def engine(db, settings, host):
    provisioner = Provisioner(settings, host, "qemu")
    provisioner.prepare_host()
    running = Engine(db, settings, provisioner)
    running.start()
    yield running
    running.stop()


def create(db, settings, name="web-1"):
    request = droplets.DropletRequest(
        names=[name], size="s-1vcpu-1gb", image="debian-12-x64", user_data="#!/bin/sh\n"
    )
    with db.transaction() as session:
        ((droplet, action),) = droplets.create_droplets(session, settings, request)
        return droplet.id, action.id


def wait_done(db, action_id, timeout=20) -> Action:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.transaction() as session:
            action = session.get(Action, action_id)
            if action.status != "in-progress":
                return action
        time.sleep(0.05)
    raise AssertionError(f"action {action_id} still in progress")


def test_create_makes_a_running_domain_with_disk_seed_and_reservation(
    db, settings, host, engine, base_image
):
    droplet_id, action_id = create(db, settings)
    engine.wake()

    action = wait_done(db, action_id)

    assert action.status == "completed", action.error
    with db.transaction() as session:
        droplet = session.get(Droplet, droplet_id)
        assert droplet.status == "active"
        mac, ipv4 = droplet.mac, droplet.ipv4
    name = f"droplet-{droplet_id}"
    assert lifecycle.state(host, name) == "running"
    assert lifecycle.mac_addresses(host, name) == [mac]
    assert storage.volume_exists(host, settings.pool, f"{name}.qcow2")
    assert storage.volume_exists(host, settings.pool, f"{name}-seed.iso")
    assert (mac, ipv4) in network.dhcp_hosts(host, settings.network.name)


def test_delete_removes_domain_volumes_reservation_and_row(
    db, settings, host, engine, base_image
):
    droplet_id, action_id = create(db, settings)
    engine.wake()
    wait_done(db, action_id)

    with db.transaction() as session:
        destroy_id = droplets.delete_droplet(session, droplet_id).id
    engine.wake()

    assert wait_done(db, destroy_id).status == "completed"
    assert lifecycle.list_domains(host) == []
    assert storage.list_volumes(host, settings.pool) == []
    assert network.dhcp_hosts(host, settings.network.name) == []
    with db.transaction() as session:
        assert session.get(Droplet, droplet_id) is None


def test_create_failing_after_define_leaves_nothing_and_errors(
    db, settings, host, engine, base_image
):
    # The reservation step fails: the network is gone after the domain was
    # defined (define does not check networks on this driver).
    network.remove_network(host, settings.network.name)
    droplet_id, action_id = create(db, settings)
    engine.wake()

    action = wait_done(db, action_id)

    assert action.status == "errored"
    assert action.error
    assert lifecycle.list_domains(host) == []
    assert storage.list_volumes(host, settings.pool) == []
    with db.transaction() as session:
        assert session.get(Droplet, droplet_id) is None


def test_B18_foreign_domain_with_the_droplets_name_is_never_removed(
    db, settings, host, engine, base_image
):
    # Another installation (or a person) holds droplet-1 on this libvirtd.
    from shoal.hypervisor.guest import GuestSpec, build_domain

    foreign = GuestSpec(
        name="droplet-1", uuid=None, vcpus=1, memory_mib=64, virt_type="qemu",
        disk_path="/nonexistent.qcow2", seed_path="/nonexistent.iso",
        mac="52:54:00:ff:ff:01", network=settings.network.name,
        smbios_serial="1", console_log="/nonexistent.log",
    )  # fmt: skip
    lifecycle.define(host, build_domain(foreign).to_xml())
    foreign_uuid = lifecycle.uuid_of(host, "droplet-1")

    droplet_id, action_id = create(db, settings)
    engine.wake()

    assert droplet_id == 1
    action = wait_done(db, action_id)
    assert action.status == "errored"
    assert "already exists" in action.error
    assert lifecycle.uuid_of(host, "droplet-1") == foreign_uuid
    assert storage.list_volumes(host, settings.pool) == []


CREATE_STEPS = ["overlay", "seed", "domain", "console", "reservation", "start"]


def test_create_on_an_image_whose_file_is_gone_errors_and_leaves_nothing(
    db, settings, host, engine, tmp_path
):
    # A custom image, not a catalogue one: that would be fetched again.
    path = tmp_path / "gone.qcow2"
    with db.transaction() as session:
        image = Image(name="gone", type="custom", public=False, path=str(path))
        session.add(image)
        session.flush()
        image_id = image.id
    request = droplets.DropletRequest(
        names=["web-1"], size="s-1vcpu-1gb", image=image_id
    )
    with db.transaction() as session:
        ((droplet, action),) = droplets.create_droplets(session, settings, request)
        droplet_id, action_id = droplet.id, action.id
    engine.wake()

    action = wait_done(db, action_id)

    assert action.status == "errored"
    assert "file of image" in action.error and "missing" in action.error
    assert lifecycle.list_domains(host) == []
    assert storage.list_volumes(host, settings.pool) == []
    assert network.dhcp_hosts(host, settings.network.name) == []
    with db.transaction() as session:
        assert session.get(Droplet, droplet_id) is None


@pytest.mark.parametrize("step", CREATE_STEPS)
def test_injected_failure_after_each_create_step_leaves_nothing(
    db, settings, host, base_image, step
):
    faults = Faults({f"create.after_{step}": "fail"})
    provisioner = Provisioner(settings, host, "qemu", faults=faults)
    provisioner.prepare_host()
    running = Engine(db, settings, provisioner)
    running.start()
    try:
        droplet_id, action_id = create(db, settings)
        running.wake()
        action = wait_done(db, action_id)
    finally:
        running.stop()

    assert action.status == "errored"
    assert f"after_{step}" in action.error
    assert lifecycle.list_domains(host) == []
    assert storage.list_volumes(host, settings.pool) == []
    assert network.dhcp_hosts(host, settings.network.name) == []
    assert list(settings.console_dir.glob("*.log")) == []
    with db.transaction() as session:
        assert session.get(Droplet, droplet_id) is None


def test_reconcile_removes_what_no_droplet_owns(db, settings, host, engine, base_image):
    droplet_id, action_id = create(db, settings)
    engine.wake()
    wait_done(db, action_id)
    # The row is lost, as if the database were restored from an old backup.
    with db.transaction() as session:
        session.delete(session.get(Droplet, droplet_id))

    repairs = Reconciler(db, engine.provisioner).run()

    assert len(repairs) == 4, repairs
    assert lifecycle.list_domains(host) == []
    assert storage.list_volumes(host, settings.pool) == []
    assert network.dhcp_hosts(host, settings.network.name) == []
    assert Reconciler(db, engine.provisioner).run() == []


def test_reconcile_follows_the_domain_state(db, settings, host, engine, base_image):
    droplet_id, action_id = create(db, settings)
    engine.wake()
    wait_done(db, action_id)
    lifecycle.destroy(host, f"droplet-{droplet_id}")

    repairs = Reconciler(db, engine.provisioner).run()

    assert repairs == [f"status active -> off droplet_id={droplet_id}"]
    with db.transaction() as session:
        assert session.get(Droplet, droplet_id).status == "off"
