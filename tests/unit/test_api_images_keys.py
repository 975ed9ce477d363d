"""Image updates and deletes, image filters, and SSH key rename and delete."""

from __future__ import annotations

import pytest

from shoal.control import image_files
from shoal.control.models import Droplet, Image
from tests.unit.test_api_catalogue import ed25519_key
from tests.unit.test_api_droplet_actions import add_snapshot
from tests.unit.test_api_droplets import assert_error, create


def test_update_image_name_description_distribution(client, base_image):
    response = client.put(
        f"/v2/images/{base_image}",
        json={"name": "Bookworm", "description": "lab", "distribution": "Ubuntu"},
    )

    assert response.status_code == 200, response.text
    image = client.get("/v2/images/debian-12-x64").json()["image"]
    assert (image["name"], image["description"], image["distribution"]) == (
        "Bookworm",
        "lab",
        "Ubuntu",
    )


def test_update_image_keeps_fields_not_given(client, base_image):
    client.put(f"/v2/images/{base_image}", json={"description": "only this"})

    image = client.get(f"/v2/images/{base_image}").json()["image"]

    assert image["name"] == "12 x64"
    assert image["description"] == "only this"


@pytest.mark.parametrize(
    "body", [{"distribution": "Plan 9"}, {"name": ""}, {"name": 5}]
)
def test_update_image_with_bad_fields_is_422(client, base_image, body):
    response = client.put(f"/v2/images/{base_image}", json=body)
    assert_error(response, 422, "unprocessable_entity")


def test_update_unknown_image_is_404(client):
    assert_error(client.put("/v2/images/4242", json={"name": "x"}), 404, "not_found")


def test_public_base_image_cannot_be_deleted(client, base_image):
    assert_error(client.delete(f"/v2/images/{base_image}"), 422, "unprocessable_entity")
    assert client.get(f"/v2/images/{base_image}").status_code == 200


def test_private_image_is_deleted_then_404(client, db):
    snapshot = add_snapshot(db, None)

    response = client.delete(f"/v2/images/{snapshot}/")

    assert response.status_code == 204, response.text
    assert_error(client.get(f"/v2/images/{snapshot}"), 404, "not_found")
    assert client.get("/v2/images?private=true").json()["images"] == []


def test_private_image_that_backs_a_droplet_is_hidden_but_keeps_its_file(
    client, db, base_image, tmp_path
):
    # Issue 8: the droplet's overlay is backed by the file, so DELETE hides
    # the image at once and the file goes only when the droplet has gone.
    snapshot = add_snapshot(db, None)
    droplet = create(client).json()["droplet"]["id"]
    backing = tmp_path / "snapshot.qcow2"
    backing.write_bytes(b"disk")
    with db.transaction() as session:
        session.get(Droplet, droplet).image_id = snapshot
        session.get(Image, snapshot).path = str(backing)

    response = client.delete(f"/v2/images/{snapshot}")

    assert response.status_code == 204, response.text
    assert_error(client.get(f"/v2/images/{snapshot}"), 404, "not_found")
    assert image_files.sweep(db) == []
    assert backing.exists()

    with db.transaction() as session:
        session.delete(session.get(Droplet, droplet))
    assert image_files.sweep(db) == [snapshot]
    assert not backing.exists()


def test_B07_snapshot_image_shows_null_slug_and_integer_id(client, db):
    snapshot = add_snapshot(db, None)

    image = client.get(f"/v2/images/{snapshot}").json()["image"]

    assert image["id"] == snapshot
    assert image["slug"] is None
    assert image["type"] == "snapshot"
    assert image["public"] is False


def test_image_filters(client, db, base_image):
    snapshot = add_snapshot(db, None)

    def ids(query: str) -> list[int]:
        response = client.get(f"/v2/images?{query}")
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["images"]]

    assert ids("") == [base_image, snapshot]
    assert ids("type=distribution") == [base_image]
    assert ids("type=application") == []
    assert ids("private=true") == [snapshot]
    assert ids("private=false") == [base_image, snapshot]
    assert ids("tag_name=base-image") == []
    assert_error(client.get("/v2/images?type=custom"), 422, "unprocessable_entity")


def make_key(client) -> dict:
    response = client.post(
        "/v2/account/keys", json={"name": "me", "public_key": ed25519_key()}
    )
    assert response.status_code == 201, response.text
    return response.json()["ssh_key"]


@pytest.mark.parametrize("by", ["id", "fingerprint"])
def test_rename_ssh_key_by_id_or_fingerprint(client, by):
    key = make_key(client)

    response = client.put(f"/v2/account/keys/{key[by]}", json={"name": "renamed"})

    assert response.status_code == 200, response.text
    assert response.json()["ssh_key"] == {**key, "name": "renamed"}


@pytest.mark.parametrize("by", ["id", "fingerprint"])
def test_delete_ssh_key_by_id_or_fingerprint(client, by):
    key = make_key(client)

    response = client.delete(f"/v2/account/keys/{key[by]}")

    assert response.status_code == 204, response.text
    assert_error(client.get(f"/v2/account/keys/{key['id']}"), 404, "not_found")
    assert_error(client.delete(f"/v2/account/keys/{key[by]}"), 404, "not_found")


def test_rename_ssh_key_with_empty_name_is_422(client):
    key = make_key(client)

    response = client.put(f"/v2/account/keys/{key['id']}", json={"name": ""})

    assert_error(response, 422, "unprocessable_entity")
