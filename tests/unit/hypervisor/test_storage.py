"""Storage pools and volumes on libvirt's test driver.

The test driver keeps volumes in memory and supports neither uploads nor
resizes; those run against qemu:///system in test_system.py (marked e2e).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from shoal.hypervisor import storage
from shoal.hypervisor.connection import Host
from shoal.hypervisor.errors import (
    AlreadyExists,
    OperationFailed,
    PoolNotFound,
    VolumeNotFound,
)

POOL = "shoaltest-pool"
PATH = "/var/lib/shoal/pool"
BASE = "/var/cache/shoal/images/debian-12.qcow2"
GiB = 1024**3


@pytest.fixture
def pool(host: Host):
    storage.ensure_pool(host, POOL, PATH)
    yield POOL
    for name in storage.list_volumes(host, POOL):
        storage.delete_volume(host, POOL, name)
    storage.remove_pool(host, POOL)


def test_ensure_pool_defines_autostarts_and_starts(host: Host, pool: str) -> None:
    libvirt_pool = host.connection().storagePoolLookupByName(pool)

    assert libvirt_pool.isPersistent() and libvirt_pool.autostart()
    assert libvirt_pool.isActive()


def test_ensure_pool_is_idempotent_and_restarts(host: Host, pool: str) -> None:
    host.connection().storagePoolLookupByName(pool).destroy()

    storage.ensure_pool(host, POOL, PATH)
    storage.ensure_pool(host, POOL, PATH + "/")

    assert host.connection().storagePoolLookupByName(pool).isActive()


def test_ensure_pool_refuses_another_path(host: Host, pool: str) -> None:
    with pytest.raises(AlreadyExists, match=PATH):
        storage.ensure_pool(host, POOL, "/srv/elsewhere")


def test_ensure_pool_wants_an_absolute_path(host: Host) -> None:
    with pytest.raises(ValueError):
        storage.ensure_pool(host, POOL, "relative/pool")


def test_overlay_records_backing_file_and_format(host: Host, pool: str) -> None:
    path = storage.create_overlay(host, pool, "droplet-7.qcow2", BASE, 25 * GiB)

    volume = storage.describe_volume(host, pool, "droplet-7.qcow2")
    assert path == volume.target_path == f"{PATH}/droplet-7.qcow2"
    assert volume.format_type == "qcow2"
    assert volume.capacity_bytes == 25 * GiB
    assert (volume.backing_store.path, volume.backing_store.format_type) == (
        BASE,
        "qcow2",
    )


def test_overlay_wants_absolute_backing_path_and_a_size(host: Host, pool: str) -> None:
    with pytest.raises(ValueError):
        storage.create_overlay(host, pool, "a.qcow2", "images/base.qcow2", GiB)
    with pytest.raises(ValueError):
        storage.create_overlay(host, pool, "a.qcow2", BASE, 0)


def test_second_overlay_of_the_same_name_is_already_exists(
    host: Host, pool: str
) -> None:
    storage.create_overlay(host, pool, "droplet-7.qcow2", BASE, GiB)

    with pytest.raises(AlreadyExists):
        storage.create_overlay(host, pool, "droplet-7.qcow2", BASE, GiB)


def test_volume_queries(host: Host, pool: str) -> None:
    storage.create_overlay(host, pool, "droplet-8.qcow2", BASE, GiB)
    storage.create_overlay(host, pool, "droplet-7.qcow2", BASE, 2 * GiB)

    assert storage.list_volumes(host, pool) == ["droplet-7.qcow2", "droplet-8.qcow2"]
    assert storage.volume_exists(host, pool, "droplet-7.qcow2")
    assert not storage.volume_exists(host, pool, "droplet-9.qcow2")
    assert storage.volume_path(host, pool, "droplet-8.qcow2") == (
        f"{PATH}/droplet-8.qcow2"
    )
    assert storage.volume_capacity(host, pool, "droplet-7.qcow2") == 2 * GiB


def test_delete_volume_is_idempotent(host: Host, pool: str) -> None:
    storage.create_overlay(host, pool, "droplet-7.qcow2", BASE, GiB)

    assert storage.delete_volume(host, pool, "droplet-7.qcow2") is True
    assert storage.delete_volume(host, pool, "droplet-7.qcow2") is False
    assert storage.list_volumes(host, pool) == []


def test_missing_volume_and_pool(host: Host, pool: str) -> None:
    with pytest.raises(VolumeNotFound, match="volume=droplet-9"):
        storage.volume_path(host, pool, "droplet-9.qcow2")
    with pytest.raises(PoolNotFound):
        storage.list_volumes(host, "no-such-pool")


def test_failed_upload_leaves_no_volume(host: Host, pool: str) -> None:
    # The test driver cannot upload, which makes a handy failure: the volume
    # created for the upload must be gone again (B25: no half-written seeds).
    with pytest.raises(OperationFailed):
        storage.upload_volume(host, pool, "droplet-7-seed.iso", b"seed")

    assert storage.list_volumes(host, pool) == []


def test_parallel_creates_in_one_pool(host: Host, pool: str) -> None:
    # B25: ten creates at once, from several threads on one connection.
    names = [f"droplet-{i}.qcow2" for i in range(10)]

    with ThreadPoolExecutor(max_workers=10) as workers:
        paths = list(
            workers.map(
                lambda n: storage.create_overlay(host, pool, n, BASE, GiB), names
            )
        )

    assert sorted(paths) == sorted(f"{PATH}/{n}" for n in names)
    assert storage.list_volumes(host, pool) == sorted(names)


def test_remove_pool_is_idempotent(host: Host) -> None:
    storage.ensure_pool(host, "shoal-other", "/srv/other")

    assert storage.remove_pool(host, "shoal-other") is True
    assert storage.remove_pool(host, "shoal-other") is False
