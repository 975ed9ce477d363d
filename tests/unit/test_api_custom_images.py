"""POST /v2/images: custom images imported over HTTP from a loopback server,
by the real engine (libvirt's test:/// driver) and the real qemu-img.

Every response is judged by DigitalOcean's spec (tests/unit/conftest.py).
"""

from __future__ import annotations

import os
import time

import pytest

from shoal.control import cli
from shoal.control.image_import import IMPORT, ImageImporter
from shoal.control.models import Image
from shoal.hypervisor import storage
from shoal.images import download as download_module
from tests.image_server import image_server
from tests.unit import test_engine
from tests.unit.disks import MiB, compressed, disk_as, qemu_img
from tests.unit.test_api_droplets import assert_error

# The engine on libvirt's test:/// driver, as test_engine runs it.
host = test_engine.host
engine = test_engine.engine
seed_without_upload = test_engine.seed_without_upload


@pytest.fixture(autouse=True)
def quick_downloads(monkeypatch, settings):
    monkeypatch.setattr(download_module, "RETRY_PAUSE_SECONDS", 0.01)
    settings.images.stall_seconds = 1
    settings.images.download_retries = 1


@pytest.fixture
def importer(db, settings, engine):
    """The engine, with the importer registered as `shoal serve` does."""
    engine.register(IMPORT, ImageImporter(db, settings))
    return engine


@pytest.fixture
def mirror():
    with image_server() as server:
        yield server


def post_image(client, url: str, **fields) -> dict:
    body = {"name": "my-image", "url": url, "region": "lab1", **fields}
    response = client.post("/v2/images", json=body)
    assert response.status_code == 202, response.text
    return response.json()["image"]


def wait_image(client, image_id: int, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        image = client.get(f"/v2/images/{image_id}").json()["image"]
        if image["status"] != "NEW":
            return image
        time.sleep(0.1)
    raise AssertionError(f"image {image_id} still NEW after {timeout}s")


def import_action(client, image_id: int) -> dict:
    actions = client.get(f"/v2/images/{image_id}/actions").json()["actions"]
    assert [a["type"] for a in actions] == ["import"], actions
    return actions[0]


# The request


def test_create_custom_image_answers_202_with_a_new_private_image(client, mirror):
    image = post_image(
        client,
        mirror.url("disk.qcow2"),
        distribution="Ubuntu",
        description="lab base",
        tags=["base-image", "prod"],
    )

    assert image["status"] == "NEW"
    assert (image["type"], image["public"], image["slug"]) == ("custom", False, None)
    assert (image["distribution"], image["description"]) == ("Ubuntu", "lab base")
    assert image["tags"] == ["base-image", "prod"]
    action = import_action(client, image["id"])
    assert (action["status"], action["resource_type"]) == ("in-progress", "image")


def test_distribution_digitalocean_does_not_list_becomes_unknown(client, mirror):
    image = post_image(client, mirror.url("x.img"), distribution="Talos")

    assert image["distribution"] == "Unknown"


@pytest.mark.parametrize(
    "change",
    [
        {"name": ""},
        {"name": None},
        {"url": None},
        {"region": None},
        {"region": "nyc3"},
        {"url": "ftp://example.org/disk.img"},
        {"url": "/etc/passwd"},
        {"tags": ["no spaces allowed"]},
    ],
)
def test_bad_custom_image_request_is_422_and_records_nothing(client, change):
    body = {"name": "x", "url": "http://127.0.0.1/x.img", "region": "lab1"}
    body.update(change)

    assert_error(client.post("/v2/images", json=body), 422, "unprocessable_entity")
    assert client.get("/v2/images?private=true").json()["images"] == []


# The import, done by the engine


@pytest.mark.parametrize(
    "name, make",
    [
        ("disk.qcow2", lambda p: disk_as("qcow2", p)),
        ("disk.raw", lambda p: disk_as("raw", p)),
        ("disk.raw.gz", lambda p: compressed(disk_as("raw", p), "gz")),
        ("disk.vmdk.bz2", lambda p: compressed(disk_as("vmdk", p), "bz2")),
    ],
    ids=["qcow2", "raw", "raw.gz", "vmdk.bz2"],
)
def test_import_over_http_makes_the_image_available(
    client, settings, importer, mirror, tmp_path, name, make
):
    url = mirror.add(name, make(tmp_path / "upstream"))

    image = wait_image(client, post_image(client, url)["id"])

    assert image["status"] == "available", image
    assert image["error_message"] == ""
    assert image["min_disk_size"] == 1
    assert import_action(client, image["id"])["status"] == "completed"
    stored = settings.custom_image_dir / f"custom-{image['id']}.qcow2"
    assert '"format": "qcow2"' in qemu_img("info", "--output=json", stored)
    assert os.listdir(settings.custom_image_dir) == [stored.name]


def failed_import(client, settings, url: str) -> dict:
    image = wait_image(client, post_image(client, url)["id"])

    assert image["status"] == "deleted", image
    assert image["error_message"]
    assert import_action(client, image["id"])["status"] == "errored"
    assert client.get("/v2/images?private=true").json()["images"] == []
    assert os.listdir(settings.custom_image_dir) == []
    return image


def test_import_of_a_file_that_is_not_an_image_fails_with_a_message(
    client, settings, importer, mirror
):
    url = mirror.add("notes.txt", b"these are not the bytes you are looking for\n")

    image = failed_import(client, settings, url)

    assert "not a bootable disk" in image["error_message"]


def test_import_of_a_qcow2_backed_by_a_host_file_is_refused(
    client, settings, importer, mirror, tmp_path
):
    evil = disk_as("qcow2", tmp_path / "evil.qcow2")
    qemu_img("rebase", "-u", "-f", "qcow2", "-b", "/etc/shadow", "-F", "raw", evil)
    url = mirror.add("evil.qcow2", evil)

    image = failed_import(client, settings, url)

    assert "backing file" in image["error_message"]
    assert "/etc/shadow" not in image["error_message"]


def test_import_of_a_truncated_download_fails(
    client, settings, importer, mirror, tmp_path
):
    url = mirror.add(
        "cut.raw",
        disk_as("raw", tmp_path / "cut.raw"),
        cut_at=MiB,
        cut_every_time=True,
    )

    image = failed_import(client, settings, url)

    assert "download failed" in image["error_message"]


def test_import_of_a_stalled_download_fails_and_keeps_no_partial_file(
    client, settings, importer, mirror, tmp_path
):
    url = mirror.add(
        "stuck.raw",
        disk_as("raw", tmp_path / "stuck.raw"),
        stall_at=MiB,
        stall_seconds=5,
    )

    image = failed_import(client, settings, url)

    assert "stalled" in image["error_message"]


def test_import_of_a_truncated_image_fails(
    client, settings, importer, mirror, tmp_path
):
    source = disk_as("qcow2", tmp_path / "half.qcow2", fill=os.urandom(MiB))
    url = mirror.add("half.qcow2", source.read_bytes()[: source.stat().st_size // 2])

    image = failed_import(client, settings, url)

    assert "truncated" in image["error_message"]


def test_import_from_a_missing_url_fails(client, settings, importer, mirror):
    image = failed_import(client, settings, mirror.url("nothing-here.img"))

    assert "404" in image["error_message"]


def test_failed_import_stays_readable_until_deleted(client, settings, importer, mirror):
    image = failed_import(client, settings, mirror.url("nothing-here.img"))

    assert client.delete(f"/v2/images/{image['id']}").status_code == 204
    assert_error(client.get(f"/v2/images/{image['id']}"), 404, "not_found")


def test_image_deleted_while_importing_keeps_no_file(
    client, db, settings, importer, mirror, tmp_path
):
    url = mirror.add(
        "slow.raw",
        disk_as("raw", tmp_path / "slow.raw"),
        stall_at=MiB,
        stall_seconds=0.5,
    )
    image = post_image(client, url)
    assert client.delete(f"/v2/images/{image['id']}").status_code == 204

    deadline = time.monotonic() + 30
    while import_action_status(db, image["id"]) == "in-progress":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # The engine's next pass sweeps the file nothing is built on.
    deadline = time.monotonic() + 10
    while os.listdir(settings.custom_image_dir) and time.monotonic() < deadline:
        time.sleep(0.1)

    assert os.listdir(settings.custom_image_dir) == []


def import_action_status(db, image_id: int) -> str:
    from shoal.control import actions

    with db.transaction() as session:
        found, _ = actions.list_resource_actions(session, "image", image_id, 0, 1)
        return found[0].status


def test_droplet_from_an_imported_image_is_built_on_its_file(
    client, settings, host, importer, mirror, tmp_path
):
    url = mirror.add("base.qcow2", disk_as("qcow2", tmp_path / "base.qcow2"))
    image = wait_image(client, post_image(client, url)["id"])
    assert image["status"] == "available", image

    response = client.post(
        "/v2/droplets",
        json={"name": "from-custom", "size": "s-1vcpu-1gb", "image": image["id"]},
    )
    assert response.status_code == 202, response.text
    droplet_id = response.json()["droplet"]["id"]
    deadline = time.monotonic() + 30
    while client.get(f"/v2/droplets/{droplet_id}").json()["droplet"]["status"] == "new":
        assert time.monotonic() < deadline
        time.sleep(0.1)

    overlay = storage.describe_volume(
        host, settings.pool, f"droplet-{droplet_id}.qcow2"
    )
    expected = settings.custom_image_dir / f"custom-{image['id']}.qcow2"
    assert overlay.backing_store.path == str(expected)


# shoal image import FILE


def test_cli_imports_a_local_file(db, settings, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SHOAL_CONFIG", str(tmp_path / "none.yaml"))
    source = compressed(disk_as("raw", tmp_path / "local.raw"), "xz")

    status = cli.main(
        [
            "image",
            "import",
            str(source),
            "--state-dir",
            str(settings.state_dir),
            "--name",
            "local",
            "--distribution",
            "Debian",
            "--tag",
            "lab",
        ]
    )

    assert status == 0, capsys.readouterr().err
    image_id = int(capsys.readouterr().out.split()[0])
    with db.transaction() as session:
        image = session.get(Image, image_id)
        assert (image.status, image.type, image.name) == (
            "available",
            "custom",
            "local",
        )
        assert [t.name for t in image.tags] == ["lab"]
        assert os.path.isfile(image.path)


def test_cli_import_of_a_missing_file_records_nothing(
    db, settings, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("SHOAL_CONFIG", str(tmp_path / "none.yaml"))

    status = cli.main(
        [
            "image",
            "import",
            str(tmp_path / "nope.qcow2"),
            "--state-dir",
            str(settings.state_dir),
        ]
    )

    assert status == 1
    assert "no such file" in capsys.readouterr().err
    with db.transaction() as session:
        assert session.query(Image).filter(Image.type == "custom").count() == 0


def test_cli_import_of_an_unsafe_file_fails_and_marks_the_image(
    db, settings, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("SHOAL_CONFIG", str(tmp_path / "none.yaml"))
    source = tmp_path / "page.html"
    source.write_text("<html>not found</html>")

    status = cli.main(
        ["image", "import", str(source), "--state-dir", str(settings.state_dir)]
    )

    assert status == 1
    assert "not a bootable disk" in capsys.readouterr().err
    with db.transaction() as session:
        (image,) = session.query(Image).filter(Image.type == "custom").all()
        assert image.status == "deleted" and image.error_message
