"""Directory storage pools and their volumes: overlays and uploaded files.

Calls that change a pool are serialized per (URI, pool) within this process.
libvirt counts a volume being built or uploaded as an asynchronous job on its
pool, and refuses to refresh the pool or delete a volume in use meanwhile
("pool has asynchronous jobs running", field report B25; measured on libvirt
9.0: 8 of 40 unlocked create/upload/refresh rounds in 20 threads failed so).
Each call is short (a `qemu-img create`, a small upload), so a lock costs
little. Other processes on the same libvirtd are not covered by it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading

import libvirt

from shoal.hypervisor.connection import Host
from shoal.hypervisor.errors import (
    AlreadyExists,
    OperationFailed,
    VolumeNotFound,
    libvirt_errors,
)
from shoal.hypervisor.xml import BackingStore, Pool, Volume

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024

_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


def pool_lock(host: Host, pool: str) -> threading.Lock:
    """The lock that serializes changes to one pool of one host."""
    with _locks_guard:
        return _locks.setdefault((host.uri, pool), threading.Lock())


def ensure_pool(host: Host, name: str, path: str) -> None:
    """Make `name` a persistent, autostarted, running directory pool at `path`.

    Idempotent. An existing pool with another target path raises `AlreadyExists`.
    """
    path = _absolute(path)
    conn = host.connection()

    with pool_lock(host, name), libvirt_errors(pool=name):
        pool = _find_pool(conn, name) or _define_pool(conn, name, path)
        _check_target(pool, name, path)
        if not pool.autostart():
            pool.setAutostart(1)
        if not pool.isActive():
            # Makes the directory if it is missing (first use, or wiped since).
            pool.build(0)
            pool.create(0)
        pool.refresh(0)

    log.info("pool ready pool=%s path=%s", name, path)


def remove_pool(host: Host, name: str) -> bool:
    """Stop and undefine a pool; its directory and files stay. False if none."""
    with pool_lock(host, name), libvirt_errors(pool=name):
        pool = _find_pool(host.connection(), name)
        if pool is None:
            return False
        if pool.isActive():
            pool.destroy()
        pool.undefine()

    log.info("pool removed pool=%s", name)
    return True


def create_overlay(
    host: Host, pool: str, vol_name: str, backing_path: str, capacity_bytes: int
) -> str:
    """Create a qcow2 overlay of `backing_path` and return its path.

    The overlay records its backing file's format (qcow2) and absolute path, as
    current libvirt and QEMU refuse to guess either (field report B21), and has a
    virtual size of `capacity_bytes` (B22). The size must not be smaller than
    the backing image's.
    """
    if capacity_bytes <= 0:
        raise ValueError("capacity_bytes must be positive")

    volume = Volume(
        name=vol_name,
        capacity_bytes=capacity_bytes,
        allocation_bytes=0,
        format_type="qcow2",
        backing_store=BackingStore(path=_absolute(backing_path), format_type="qcow2"),
    )
    with pool_lock(host, pool), libvirt_errors(pool=pool, volume=vol_name):
        path = _create_volume(_pool(host, pool), volume).path()

    log.info(
        "overlay created pool=%s volume=%s backing=%s capacity=%d",
        pool,
        vol_name,
        backing_path,
        capacity_bytes,
    )
    return path


def upload_volume(host: Host, pool: str, vol_name: str, data: bytes) -> str:
    """Create a raw volume holding exactly `data`, and return its path.

    The data is streamed through libvirt, then read back and compared before
    returning, so a caller never attaches a partly written file (B25). A failed
    upload leaves no volume behind.
    """
    volume = Volume(
        name=vol_name,
        capacity_bytes=len(data),
        allocation_bytes=0,
        format_type="raw",
    )
    with pool_lock(host, pool):
        with libvirt_errors(pool=pool, volume=vol_name):
            vol = _create_volume(_pool(host, pool), volume)

        try:
            _send(host.connection(), vol, data)
            _check_contents(host.connection(), vol, data)
        except BaseException:
            _delete_after_failure(vol, pool, vol_name)
            raise

        with libvirt_errors(pool=pool, volume=vol_name):
            path = vol.path()

    log.info("volume uploaded pool=%s volume=%s bytes=%d", pool, vol_name, len(data))
    return path


def delete_volume(host: Host, pool: str, vol_name: str) -> bool:
    """Delete a volume. Returns False when there was none (not an error)."""
    with pool_lock(host, pool), libvirt_errors(pool=pool, volume=vol_name):
        vol = _find_volume(_pool(host, pool), vol_name, refresh=True)
        if vol is None:
            return False
        vol.delete(0)

    log.info("volume deleted pool=%s volume=%s", pool, vol_name)
    return True


def resize_volume(host: Host, pool: str, vol_name: str, capacity_bytes: int) -> None:
    """Grow a volume's virtual size. Shrinking is refused (field report B22)."""
    with pool_lock(host, pool), libvirt_errors(pool=pool, volume=vol_name):
        vol = _volume(host, pool, vol_name)
        current = vol.info()[1]
        if capacity_bytes < current:
            raise OperationFailed(
                f"volume {vol_name} is {current} bytes; refusing to shrink"
                f" to {capacity_bytes}"
            )
        if capacity_bytes > current:
            vol.resize(capacity_bytes, 0)

    log.info(
        "volume resized pool=%s volume=%s capacity=%d", pool, vol_name, capacity_bytes
    )


def volume_path(host: Host, pool: str, vol_name: str) -> str:
    with libvirt_errors(pool=pool, volume=vol_name):
        return _volume(host, pool, vol_name).path()


def volume_capacity(host: Host, pool: str, vol_name: str) -> int:
    """The volume's virtual size in bytes."""
    with libvirt_errors(pool=pool, volume=vol_name):
        return _volume(host, pool, vol_name).info()[1]


def volume_exists(host: Host, pool: str, vol_name: str) -> bool:
    with libvirt_errors(pool=pool, volume=vol_name):
        return _find_volume(_pool(host, pool), vol_name) is not None


def list_volumes(host: Host, pool: str) -> list[str]:
    with libvirt_errors(pool=pool):
        return sorted(_pool(host, pool).listVolumes())


def describe_volume(host: Host, pool: str, vol_name: str) -> Volume:
    """The volume's definition as libvirt reports it, parsed."""
    with libvirt_errors(pool=pool, volume=vol_name):
        xml = _volume(host, pool, vol_name).XMLDesc(0)
    return Volume.from_xml(xml)


def _create_volume(
    pool: libvirt.virStoragePool, volume: Volume
) -> libvirt.virStorageVol:
    # Drivers disagree on the error code for a taken name; under the pool lock
    # a look first answers the same everywhere.
    if _lookup_volume(pool, volume.name) is not None:
        raise AlreadyExists(
            f"storage volume exists (pool={pool.name()} volume={volume.name})"
        )
    return pool.createXML(volume.to_xml(), 0)


def _define_pool(
    conn: libvirt.virConnect, name: str, path: str
) -> libvirt.virStoragePool:
    pool = conn.storagePoolDefineXML(Pool(name=name, target_path=path).to_xml(), 0)
    log.info("pool defined pool=%s path=%s", name, path)
    return pool


def _check_target(pool: libvirt.virStoragePool, name: str, path: str) -> None:
    existing = Pool.from_xml(pool.XMLDesc(0)).target_path
    if existing is not None and os.path.normpath(existing) != path:
        raise AlreadyExists(f"pool {name} already exists with path {existing}")


def _send(conn: libvirt.virConnect, vol: libvirt.virStorageVol, data: bytes) -> None:
    with libvirt_errors():
        stream = conn.newStream(0)
        vol.upload(stream, 0, len(data), 0)
        try:
            view = memoryview(data)
            while view:
                sent = stream.send(bytes(view[:_CHUNK]))
                view = view[sent:]
            # finish() returns once the daemon has written and closed the file.
            stream.finish()
        except BaseException:
            _abort_quietly(stream)
            raise


def _abort_quietly(stream: libvirt.virStream) -> None:
    # The stream may already be dead; the error worth raising is the first one.
    try:
        stream.abort()
    except libvirt.libvirtError:
        log.debug("aborting upload stream failed", exc_info=True)


def _check_contents(
    conn: libvirt.virConnect, vol: libvirt.virStorageVol, data: bytes
) -> None:
    digest = hashlib.sha256()
    with libvirt_errors():
        stream = conn.newStream(0)
        vol.download(stream, 0, len(data), 0)
        while chunk := stream.recv(_CHUNK):
            digest.update(chunk)
        stream.finish()

    if digest.digest() != hashlib.sha256(data).digest():
        raise OperationFailed(f"volume {vol.name()} does not read back as uploaded")


def _delete_after_failure(vol: libvirt.virStorageVol, pool: str, name: str) -> None:
    try:
        with libvirt_errors():
            vol.delete(0)
    except Exception:
        log.exception("cleanup of failed upload failed pool=%s volume=%s", pool, name)


def _pool(host: Host, name: str) -> libvirt.virStoragePool:
    return host.connection().storagePoolLookupByName(name)


def _find_pool(conn: libvirt.virConnect, name: str) -> libvirt.virStoragePool | None:
    try:
        return conn.storagePoolLookupByName(name)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:
            return None
        raise


def _volume(host: Host, pool: str, vol_name: str) -> libvirt.virStorageVol:
    vol = _find_volume(_pool(host, pool), vol_name)
    if vol is None:
        raise VolumeNotFound(f"no storage volume (pool={pool} volume={vol_name})")
    return vol


def _find_volume(
    pool: libvirt.virStoragePool, name: str, *, refresh: bool = False
) -> libvirt.virStorageVol | None:
    """The volume, or None. With `refresh`, rescan the pool before giving up.

    A file placed in the pool directory behind libvirt's back is unknown to it
    until a refresh ("can't retrieve volume" although the file exists, B25).
    """
    vol = _lookup_volume(pool, name)
    if vol is None and refresh:
        pool.refresh(0)
        vol = _lookup_volume(pool, name)
    return vol


def _lookup_volume(
    pool: libvirt.virStoragePool, name: str
) -> libvirt.virStorageVol | None:
    try:
        return pool.storageVolLookupByName(name)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return None
        raise


def _absolute(path: str) -> str:
    if not os.path.isabs(path):
        raise ValueError(f"path must be absolute: {path!r}")
    return os.path.normpath(path)
