"""The fixture that fails tests leaving libvirt objects behind does see them."""

from __future__ import annotations

from shoal.hypervisor import lifecycle, network, storage
from shoal.hypervisor.connection import Host

from .conftest import inventory, leftovers
from .test_lifecycle import domain_xml


def test_leftovers_names_every_kind(host: Host) -> None:
    before = inventory(host.connection())
    lifecycle.define(host, domain_xml(name="droplet-leak"))
    network.ensure_network(
        host, "shoaltest-leak", "leakbr0", "10.9.0.1", 24, "10.9.0.2", "10.9.0.9"
    )
    storage.ensure_pool(host, "shoaltest-leak", "/leak")
    storage.create_overlay(host, "shoaltest-leak", "v.qcow2", "/base.qcow2", 1024)

    try:
        found = leftovers(before, inventory(host.connection()))
        only_prefixed = leftovers(before, inventory(host.connection()), "shoaltest-")
    finally:
        lifecycle.remove_domain(host, "droplet-leak")
        network.remove_network(host, "shoaltest-leak")
        storage.delete_volume(host, "shoaltest-leak", "v.qcow2")
        storage.remove_pool(host, "shoaltest-leak")

    assert found == {
        "domain": ["droplet-leak"],
        "network": ["shoaltest-leak"],
        "pool": ["shoaltest-leak"],
        "volume": ["shoaltest-leak/v.qcow2"],
    }
    assert sorted(only_prefixed) == ["network", "pool", "volume"]
    assert leftovers(before, inventory(host.connection())) == {}
