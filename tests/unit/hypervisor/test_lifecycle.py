"""Domain lifecycle on libvirt's test driver."""

from __future__ import annotations

import logging
import uuid

import pytest

from shoal.hypervisor import lifecycle
from shoal.hypervisor.connection import Host
from shoal.hypervisor.errors import AlreadyExists, DomainNotFound, InvalidState
from shoal.hypervisor.guest import GuestSpec, build_domain

NAME = "droplet-7"


def domain_xml(
    name: str = NAME, uuid_: str | None = None, memory_mib: int = 512
) -> str:
    spec = GuestSpec(
        name=name,
        uuid=uuid_ or str(uuid.uuid4()),
        vcpus=1,
        memory_mib=memory_mib,
        virt_type="qemu",
        disk_path=f"/pool/{name}.qcow2",
        seed_path=f"/pool/{name}-seed.iso",
        mac="52:54:00:00:00:07",
        network="default",
        smbios_serial="7",
        console_log=f"/consoles/{name}.log",
    )
    return build_domain(spec).to_xml()


@pytest.fixture
def defined(host: Host):
    """A defined, shut-off droplet-7; removed afterwards whatever happened."""
    lifecycle.define(host, domain_xml())
    yield NAME
    lifecycle.remove_domain(host, NAME)


def test_define_start_destroy(host: Host, defined: str) -> None:
    assert lifecycle.state(host, defined) == "shutoff"

    lifecycle.start(host, defined)
    assert lifecycle.state(host, defined) == "running"

    lifecycle.destroy(host, defined)
    assert lifecycle.state(host, defined) == "shutoff"


def test_start_is_idempotent(host: Host, defined: str) -> None:
    lifecycle.start(host, defined)
    lifecycle.start(host, defined)

    assert lifecycle.state(host, defined) == "running"


def test_destroy_of_an_off_domain_is_fine(host: Host, defined: str) -> None:
    lifecycle.destroy(host, defined)

    assert lifecycle.state(host, defined) == "shutoff"


def test_shutdown_and_reboot_requests(host: Host, defined: str) -> None:
    lifecycle.shutdown(host, defined)  # off already: nothing to ask
    lifecycle.start(host, defined)

    lifecycle.reboot(host, defined)
    lifecycle.shutdown(host, defined)

    # The test driver obeys at once; a real guest takes its time.
    assert lifecycle.state(host, defined) == "shutoff"


def test_reboot_of_an_off_domain_is_invalid(host: Host, defined: str) -> None:
    with pytest.raises(InvalidState):
        lifecycle.reboot(host, defined)


def test_redefine_with_same_uuid_updates(host: Host) -> None:
    same = str(uuid.uuid4())
    lifecycle.define(host, domain_xml(uuid_=same, memory_mib=512))
    try:
        lifecycle.define(host, domain_xml(uuid_=same, memory_mib=2048))
        memory = lifecycle.describe(host, NAME).memory_mib
    finally:
        lifecycle.remove_domain(host, NAME)

    assert memory == 2048


def test_name_held_by_another_domain_is_already_exists(
    host: Host, defined: str
) -> None:
    # B18: a leftover domain must be reported clearly, not half-overwritten.
    with pytest.raises(AlreadyExists, match="already exists with uuid"):
        lifecycle.define(host, domain_xml(uuid_=str(uuid.uuid4())))


def test_remove_domain_running(host: Host, defined: str) -> None:
    lifecycle.start(host, defined)

    assert lifecycle.remove_domain(host, defined) is True
    assert not lifecycle.exists(host, defined)


def test_remove_domain_is_idempotent(host: Host) -> None:
    assert lifecycle.remove_domain(host, "droplet-404") is False
    assert lifecycle.remove_domain(host, "droplet-404") is False


def test_remove_domain_with_managed_save_and_snapshot(
    host: Host, defined: str, caplog: pytest.LogCaptureFixture
) -> None:
    # B15: a plain undefine refuses both of these.
    dom = host.connection().lookupByName(defined)
    lifecycle.start(host, defined)
    dom.snapshotCreateXML("<domainsnapshot><name>adhoc</name></domainsnapshot>", 0)
    dom.managedSave(0)
    assert dom.hasManagedSaveImage(0) and dom.snapshotNum(0) == 1

    with caplog.at_level(logging.WARNING):
        assert lifecycle.remove_domain(host, defined) is True

    assert not lifecycle.exists(host, defined)
    # The test driver lacks the NVRAM and CHECKPOINTS flags: the fallback ran.
    assert "undefine flags rejected" in caplog.text


def test_remove_transient_domain(host: Host) -> None:
    host.connection().createXML(domain_xml(name="droplet-8"), 0)

    assert lifecycle.remove_domain(host, "droplet-8") is True
    assert not lifecycle.exists(host, "droplet-8")


def test_state_of_missing_domain(host: Host) -> None:
    with pytest.raises(DomainNotFound, match="domain=droplet-404"):
        lifecycle.state(host, "droplet-404")
    assert lifecycle.exists(host, "droplet-404") is False


def test_list_domains_by_prefix(host: Host, defined: str) -> None:
    # The test driver always has a domain called "test".
    assert defined in lifecycle.list_domains(host)
    assert "test" not in lifecycle.list_domains(host)
    assert "test" in lifecycle.list_domains(host, prefix="")


def test_mac_addresses_and_disk_paths(host: Host, defined: str) -> None:
    assert lifecycle.mac_addresses(host, defined) == ["52:54:00:00:00:07"]
    assert lifecycle.disk_paths(host, defined) == [
        "/pool/droplet-7.qcow2",
        "/pool/droplet-7-seed.iso",
    ]


def test_operations_on_missing_domain_raise_not_found(host: Host) -> None:
    for call in (lifecycle.start, lifecycle.destroy, lifecycle.undefine):
        with pytest.raises(DomainNotFound):
            call(host, "droplet-404")
