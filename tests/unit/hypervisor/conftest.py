"""Fixtures for hypervisor tests: libvirt's own `test:///default` driver, and
`qemu:///system` for tests marked e2e. Each fails a test that leaves a domain,
volume, pool or network behind."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import libvirt
import pytest

from shoal.hypervisor.connection import Host
from shoal.hypervisor.errors import HypervisorUnavailable

TEST_URI = "test:///default"
SYSTEM_URI = "qemu:///system"
# Everything an e2e test creates on the real daemon carries this prefix, so the
# leak check ignores what other users of that daemon do meanwhile.
SYSTEM_PREFIX = "shoaltest-"


def inventory(conn: libvirt.virConnect) -> dict[str, set[str]]:
    """Names of every domain, network, pool and volume the connection sees."""
    pools = conn.listAllStoragePools(0)
    return {
        "domain": {d.name() for d in conn.listAllDomains(0)},
        "network": {n.name() for n in conn.listAllNetworks(0)},
        "pool": {p.name() for p in pools},
        "volume": {
            f"{p.name()}/{v}" for p in pools if p.isActive() for v in p.listVolumes()
        },
    }


def leftovers(
    before: dict[str, set[str]], after: dict[str, set[str]], prefix: str = ""
) -> dict[str, list[str]]:
    """What `after` has that `before` had not, by kind, keeping names that start
    with `prefix` (for a volume, `pool/volume`, either part may)."""
    found = {}
    for kind, names in after.items():
        new = sorted(
            n
            for n in names - before[kind]
            if any(part.startswith(prefix) for part in n.split("/"))
        )
        if new:
            found[kind] = new
    return found


@pytest.fixture
def host() -> Iterator[Host]:
    """A `Host` on `test:///default`, which starts from the same state each test:
    the driver resets once its last connection closes."""
    h = Host(TEST_URI)
    before = inventory(h.connection())

    yield h

    left = leftovers(before, inventory(h.connection()))
    h.close()
    if left:
        pytest.fail(f"test left libvirt objects behind: {left}")


@pytest.fixture
def system_host() -> Iterator[Host]:
    """A `Host` on the real `qemu:///system` daemon, for tests marked e2e."""
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed")
    h = Host(SYSTEM_URI)
    try:
        before = inventory(h.connection())
    except HypervisorUnavailable as err:
        pytest.skip(f"libvirtd not reachable: {err}")

    yield h

    left = leftovers(before, inventory(h.connection()), prefix=SYSTEM_PREFIX)
    h.close()
    if left:
        pytest.fail(f"test left libvirt objects behind on {SYSTEM_URI}: {left}")


@pytest.fixture
def unique() -> str:
    """A short random suffix for names that must not collide between runs."""
    return uuid.uuid4().hex[:8]
