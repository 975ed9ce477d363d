"""The distribution catalogue and its fetch path, against a loopback mirror.

An operator catalogue file points a slug at http://127.0.0.1:PORT/...;
the same code that would fetch Ubuntu from cloud-images.ubuntu.com fetches
it, verifies its digest, converts it and stores it once.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from shoal.control import catalogue, cli, droplets
from shoal.control.images import DISTRIBUTIONS
from shoal.control.models import Image
from shoal.hypervisor import storage
from shoal.images import download as download_module
from shoal.images import pull
from shoal.images.distributions import load_catalogue
from shoal.images.errors import CatalogueError, ChecksumMismatch, UnknownImage
from shoal.images.limits import ImageLimits
from tests.image_server import image_server
from tests.unit import test_engine
from tests.unit.disks import disk_as, guest_bytes

# The engine on libvirt's test:/// driver, as test_engine runs it.
host = test_engine.host
engine = test_engine.engine
seed_without_upload = test_engine.seed_without_upload
wait_done = test_engine.wait_done

SLUG = "loopback-1-x64"
LIMITS = ImageLimits(stall_seconds=2, download_retries=1)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(download_module, "RETRY_PAUSE_SECONDS", 0.01)


@pytest.fixture
def mirror(tmp_path):
    """A loopback mirror serving one qcow2 cloud image."""
    image = disk_as("qcow2", tmp_path / "upstream.qcow2")
    with image_server() as server:
        server.add("cloud.qcow2", image)
        yield server, image


def write_catalogue(path: Path, url: str, checksum: str, **extra) -> Path:
    entry = {
        "slug": SLUG,
        "name": "1 x64",
        "distribution": "Debian",
        "version": "1",
        "url": url,
        "checksum": checksum,
        "min_disk_size": 5,
        **extra,
    }
    path.write_text(yaml.safe_dump({"images": [entry]}))
    return path


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


# The catalogue file


def test_builtin_catalogue_has_the_digitalocean_slugs_with_pinned_digests():
    entries = load_catalogue()

    assert {"debian-12-x64", "ubuntu-22-04-x64", "ubuntu-24-04-x64"} <= set(entries)
    for entry in entries.values():
        assert entry.url.startswith("https://"), entry
        assert entry.checksum.split(":")[0] in ("sha256", "sha512"), entry
        assert entry.distribution in DISTRIBUTIONS, entry
        assert entry.min_disk_size > 0, entry


def test_operator_catalogue_adds_and_replaces_entries_by_slug(tmp_path):
    extra = tmp_path / "mine.yaml"
    extra.write_text(
        yaml.safe_dump(
            {
                "images": [
                    {
                        "slug": "ubuntu-24-04-x64",
                        "name": "24.04 local mirror",
                        "distribution": "Ubuntu",
                        "version": "24.04",
                        "url": "http://mirror.lan/noble.img",
                        "checksum": "sha256:" + "a" * 64,
                    },
                    {
                        "slug": "alpine-3-x64",
                        "name": "3 x64",
                        "distribution": "Unknown",
                        "version": "3",
                        "url": "http://mirror.lan/alpine.qcow2",
                        "checksum": "sha512:" + "b" * 128,
                    },
                ]
            }
        )
    )

    entries = load_catalogue(extra)

    assert entries["ubuntu-24-04-x64"].url == "http://mirror.lan/noble.img"
    assert entries["alpine-3-x64"].name == "3 x64"
    assert "debian-12-x64" in entries


@pytest.mark.parametrize(
    "change, complaint",
    [
        ({"checksum": "md5:abc"}, "checksum"),
        ({"checksum": "sha256:xyz"}, "checksum"),
        ({"url": "ftp://mirror/x.img"}, "url"),
        ({"slug": "Bad Slug"}, "slug"),
        ({"url": None}, "missing url"),
        ({"min_disk_size": "big"}, "min_disk_size"),
    ],
)
def test_malformed_operator_catalogue_is_refused(tmp_path, change, complaint):
    path = write_catalogue(
        tmp_path / "bad.yaml", "http://x/y.img", "sha256:" + "0" * 64
    )
    document = yaml.safe_load(path.read_text())
    document["images"][0].update(change)
    path.write_text(yaml.safe_dump(document))

    with pytest.raises(CatalogueError, match=complaint):
        load_catalogue(path)


# Pulling


def test_pull_fetches_verifies_converts_and_stores_once(tmp_path, mirror):
    server, upstream = mirror
    path = write_catalogue(
        tmp_path / "c.yaml", server.url("cloud.qcow2"), sha256(upstream)
    )
    entry = load_catalogue(path)[SLUG]
    store = tmp_path / "store"

    first = pull.pull(entry, store, LIMITS)
    second = pull.pull(entry, store, LIMITS)

    assert first == second == store / entry.stored_name
    assert guest_bytes(first) == guest_bytes(upstream)
    assert len(server.ranges("cloud.qcow2")) == 1
    assert sorted(os.listdir(store)) == [
        f".{entry.stored_name}.lock",
        entry.stored_name,
    ]


def test_pull_with_a_wrong_checksum_stores_nothing(tmp_path, mirror):
    server, _ = mirror
    path = write_catalogue(
        tmp_path / "c.yaml", server.url("cloud.qcow2"), "sha256:" + "0" * 64
    )
    entry = load_catalogue(path)[SLUG]
    store = tmp_path / "store"

    with pytest.raises(ChecksumMismatch):
        pull.pull(entry, store, LIMITS)

    assert [name for name in os.listdir(store) if not name.endswith(".lock")] == []


def test_pull_interrupted_earlier_resumes_from_its_partial_file(tmp_path, mirror):
    server, upstream = mirror
    path = write_catalogue(
        tmp_path / "c.yaml", server.url("cloud.qcow2"), sha256(upstream)
    )
    entry = load_catalogue(path)[SLUG]
    store = tmp_path / "store"
    store.mkdir()
    (store / f".{entry.stored_name}.part").write_bytes(upstream.read_bytes()[:4096])

    pull.pull(entry, store, LIMITS)

    assert server.ranges("cloud.qcow2") == ["bytes=4096-"]
    assert not (store / f".{entry.stored_name}.part").exists()


def test_cli_image_pull_registers_the_slug(tmp_path, mirror, monkeypatch, capsys):
    server, upstream = mirror
    catalogue_file = write_catalogue(
        tmp_path / "c.yaml", server.url("cloud.qcow2"), sha256(upstream)
    )
    config = tmp_path / "shoal.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp_path / "state"),
                "image_cache_dir": str(tmp_path / "cache"),
                "images": {"catalogue": str(catalogue_file)},
            }
        )
    )
    monkeypatch.setenv("SHOAL_CONFIG", str(config))

    status = cli.main(["image", "pull", SLUG])

    assert status == 0
    image_id, slug, path = capsys.readouterr().out.split()
    assert slug == SLUG and Path(path).is_file()
    assert cli.main(["image", "pull", "no-such-slug"]) == 1
    assert "no catalogue entry" in capsys.readouterr().err


# First use: a droplet on a catalogue image that is not on the host yet


def test_first_droplet_on_a_catalogue_image_fetches_it(
    db, settings, host, engine, mirror, tmp_path
):
    server, upstream = mirror
    settings.images.catalogue = write_catalogue(
        tmp_path / "c.yaml", server.url("cloud.qcow2"), sha256(upstream)
    )
    with db.transaction() as session:
        catalogue.sync_catalogue(session, catalogue.catalogue_of(settings))
    request = droplets.DropletRequest(names=["fresh"], size="s-1vcpu-1gb", image=SLUG)
    with db.transaction() as session:
        ((droplet, action),) = droplets.create_droplets(session, settings, request)
        droplet_id, action_id = droplet.id, action.id
    engine.wake()

    done = wait_done(db, action_id)

    assert done.status == "completed", done.error
    with db.transaction() as session:
        image = session.scalar(select(Image).where(Image.slug == SLUG))
        assert Path(image.path).parent == settings.image_cache_dir
    overlay = storage.describe_volume(
        host, settings.pool, f"droplet-{droplet_id}.qcow2"
    )
    assert overlay.backing_store.path == image.path


def test_first_droplet_fetch_failing_errors_the_create(
    db, settings, host, engine, mirror, tmp_path
):
    server, _ = mirror
    settings.images.catalogue = write_catalogue(
        tmp_path / "c.yaml", server.url("cloud.qcow2"), "sha256:" + "0" * 64
    )
    with db.transaction() as session:
        catalogue.sync_catalogue(session, catalogue.catalogue_of(settings))
    request = droplets.DropletRequest(names=["fresh"], size="s-1vcpu-1gb", image=SLUG)
    with db.transaction() as session:
        ((droplet, action),) = droplets.create_droplets(session, settings, request)
        droplet_id, action_id = droplet.id, action.id
    engine.wake()

    done = wait_done(db, action_id)

    assert done.status == "errored"
    assert "sha256" in done.error
    with db.transaction() as session:
        assert session.get(droplets.Droplet, droplet_id) is None


def test_image_without_file_or_catalogue_entry_cannot_be_made_local(
    db, settings, tmp_path
):
    with db.transaction() as session:
        image = Image(slug="gone-1-x64", name="gone", path=str(tmp_path / "gone.qcow2"))
        session.add(image)
        session.flush()
        image_id = image.id

    with pytest.raises(UnknownImage):
        catalogue.ensure_local(db, settings, image_id)


def test_sync_catalogue_adds_each_slug_once_without_a_file(db, settings):
    entries = catalogue.catalogue_of(settings)
    with db.transaction() as session:
        assert catalogue.sync_catalogue(session, entries) == len(entries)
        assert catalogue.sync_catalogue(session, entries) == 0
        ubuntu = session.scalar(select(Image).where(Image.slug == "ubuntu-24-04-x64"))
        assert (ubuntu.path, ubuntu.status, ubuntu.public) == ("", "available", True)
        assert ubuntu.distribution == "Ubuntu"
