"""debian-12-x64-do: the Debian image whose cloud-init reads only the
DigitalOcean datasource. Its droplets get no seed ISO, so the metadata
service alone configures them."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from shoal.control import catalogue, droplets
from shoal.control.addresses import mac_for
from shoal.control.provision import Machine, Provisioner
from shoal.hypervisor import lifecycle, network, storage
from shoal.hypervisor.connection import Host
from shoal.images import builder

DATASOURCE_CFG = "etc/cloud/cloud.cfg.d/99-shoal-datasource.cfg"


def test_variant_is_debian_with_only_the_digitalocean_datasource():
    base, variant = (
        builder.RECIPES["debian-12-x64"],
        builder.RECIPES["debian-12-x64-do"],
    )

    files = builder.image_files(variant)

    assert yaml.safe_load(files[DATASOURCE_CFG]) == {
        "datasource_list": ["DigitalOcean", "None"]
    }
    assert DATASOURCE_CFG not in builder.image_files(base)
    assert dataclasses.replace(variant, slug=base.slug, extra_files=()) == base
    assert builder.cache_key(variant) != builder.cache_key(base)


def test_catalogue_marks_only_the_variant_metadata_service_only(db, tmp_path):
    path = tmp_path / "image.qcow2"
    path.write_bytes(b"\0" * 1024)

    with db.transaction() as session:
        stock = catalogue.register_image(session, "debian-12-x64", path)
        variant = catalogue.register_image(session, "debian-12-x64-do", path)
        assert (stock.metadata_service_only, variant.metadata_service_only) == (
            False,
            True,
        )


@pytest.fixture
def host(settings):
    with Host("test:///default") as opened:
        yield opened
        for name in lifecycle.list_domains(opened):
            lifecycle.remove_domain(opened, name)
        network.remove_network(opened, settings.network.name)
        storage.remove_pool(opened, settings.pool)


def machine(base_image: str, with_seed: bool) -> Machine:
    return Machine(
        droplet_id=9, name="do-only", vcpus=1, memory_mib=512, disk_gib=1,
        base_image=base_image, ipv4="10.118.0.9", mac=mac_for(9),
        public_keys=(), user_data="#!/bin/sh\n", with_seed=with_seed,
    )  # fmt: skip


def test_droplet_of_a_metadata_only_image_boots_without_seed(settings, host, tmp_path):
    base = tmp_path / "base.qcow2"
    base.write_bytes(b"\0" * 1024)
    settings.state_dir.mkdir(parents=True)
    provisioner = Provisioner(settings, host, "qemu")
    provisioner.prepare_host()
    seedless = machine(str(base), with_seed=False)

    provisioner.create(seedless)

    domain = lifecycle.describe(host, seedless.domain)
    assert [d.device for d in domain.disks()] == ["disk"]
    assert not storage.volume_exists(host, settings.pool, seedless.seed)
    (interface,) = domain.interfaces()
    assert interface.filterref.parameters == [("IP", "10.118.0.9")]


def test_machine_of_a_metadata_only_droplet_has_no_seed(db, settings, tmp_path):
    path = tmp_path / "image.qcow2"
    path.write_bytes(b"\0" * 1024)
    with db.transaction() as session:
        catalogue.register_image(session, "debian-12-x64-do", path)
    request = droplets.DropletRequest(
        names=["do-only"], size="s-1vcpu-1gb", image="debian-12-x64-do"
    )

    with db.transaction() as session:
        ((droplet, _),) = droplets.create_droplets(session, settings, request)
        assert Machine.from_droplet(droplet).with_seed is False
