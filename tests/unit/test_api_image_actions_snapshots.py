"""Image actions (transfer, convert), /v2/snapshots, and image tags.

Snapshot and backup rows are written here as the droplet actions write
them (type snapshot/backup, private, droplet_id set).
"""

from __future__ import annotations

import pytest

from shoal.control.models import Image
from shoal.control.tags import resolve_tags
from tests.unit.test_api_droplets import assert_error


def add_image(db, kind: str, droplet_id: int | None = 7, tags=(), **fields) -> int:
    with db.transaction() as session:
        image = Image(
            name=f"{kind}-1",
            type=kind,
            public=False,
            slug=None,
            path="/nowhere",
            droplet_id=droplet_id,
            min_disk_size=25,
            size_gigabytes=1.5,
            tags=resolve_tags(session, list(tags)),
            **fields,
        )
        session.add(image)
        session.flush()
        return image.id


def post_action(client, image_id, **body):
    return client.post(f"/v2/images/{image_id}/actions", json=body)


# transfer


def test_transfer_to_the_images_own_region_completes_at_once(client, db):
    image = add_image(db, "snapshot")

    response = post_action(client, image, type="transfer", region="lab1")

    assert response.status_code == 201, response.text
    action = response.json()["action"]
    assert (action["type"], action["status"]) == ("transfer", "completed")
    assert (action["resource_type"], action["resource_id"]) == ("image", image)
    assert action["region_slug"] == "lab1"


@pytest.mark.parametrize("region", ["nyc3", None, ""])
def test_transfer_to_an_unknown_or_missing_region_is_422(client, db, region):
    image = add_image(db, "snapshot")

    response = post_action(client, image, type="transfer", region=region)

    assert_error(response, 422, "unprocessable_entity")
    assert client.get(f"/v2/images/{image}/actions").json()["actions"] == []


# convert


def test_convert_turns_a_backup_into_a_snapshot(client, db):
    backup = add_image(db, "backup")

    response = post_action(client, backup, type="convert")

    assert response.status_code == 201, response.text
    assert response.json()["action"]["status"] == "completed"
    assert client.get(f"/v2/images/{backup}").json()["image"]["type"] == "snapshot"


def test_convert_of_anything_but_a_backup_is_422(client, db, base_image):
    snapshot = add_image(db, "snapshot")

    assert_error(
        post_action(client, snapshot, type="convert"), 422, "unprocessable_entity"
    )
    assert_error(
        post_action(client, base_image, type="convert"), 422, "unprocessable_entity"
    )


def test_unknown_image_action_type_is_422(client, db):
    image = add_image(db, "snapshot")

    assert_error(post_action(client, image, type="resize"), 422, "unprocessable_entity")


def test_action_on_an_image_still_importing_is_422(client, db):
    image = add_image(db, "custom", droplet_id=None, status="NEW")

    response = post_action(client, image, type="transfer", region="lab1")

    assert_error(response, 422, "unprocessable_entity")


def test_action_on_an_unknown_image_is_404(client):
    assert_error(post_action(client, 4242, type="convert"), 404, "not_found")


def test_image_actions_are_listed_and_read_per_image(client, db):
    first, second = add_image(db, "backup"), add_image(db, "snapshot")
    converted = post_action(client, first, type="convert").json()["action"]
    moved = post_action(client, second, type="transfer", region="lab1").json()["action"]

    listed = client.get(f"/v2/images/{first}/actions").json()

    assert [a["id"] for a in listed["actions"]] == [converted["id"]]
    assert listed["meta"]["total"] == 1
    got = client.get(f"/v2/images/{first}/actions/{converted['id']}")
    assert got.json()["action"] == converted
    assert_error(
        client.get(f"/v2/images/{first}/actions/{moved['id']}"), 404, "not_found"
    )
    assert client.get(f"/v2/actions/{moved['id']}").status_code == 200


# /v2/snapshots


def test_snapshots_list_droplet_snapshots_with_string_ids(client, db, base_image):
    snapshot = add_image(db, "snapshot", tags=["web"])
    add_image(db, "backup")

    listed = client.get("/v2/snapshots").json()

    assert listed["meta"]["total"] == 1
    (item,) = listed["snapshots"]
    assert item["id"] == str(snapshot)
    assert (item["resource_id"], item["resource_type"]) == ("7", "droplet")
    assert item["tags"] == ["web"]
    assert (item["min_disk_size"], item["size_gigabytes"]) == (25, 1.5)


def test_snapshots_filter_by_resource_type(client, db):
    snapshot = add_image(db, "snapshot")

    def ids(query):
        response = client.get(f"/v2/snapshots?{query}")
        assert response.status_code == 200, response.text
        return [s["id"] for s in response.json()["snapshots"]]

    assert ids("resource_type=droplet") == [str(snapshot)]
    assert ids("resource_type=volume") == []
    assert_error(
        client.get("/v2/snapshots?resource_type=disk"), 422, "unprocessable_entity"
    )


def test_get_snapshot_by_id(client, db):
    snapshot = add_image(db, "snapshot")

    response = client.get(f"/v2/snapshots/{snapshot}")

    assert response.status_code == 200, response.text
    assert response.json()["snapshot"]["id"] == str(snapshot)


def test_get_snapshot_of_an_image_that_is_not_one_is_400(client, base_image, db):
    backup = add_image(db, "backup")

    assert_error(client.get(f"/v2/snapshots/{base_image}"), 400, "bad_request")
    assert_error(client.get(f"/v2/snapshots/{backup}"), 400, "bad_request")


def test_volume_snapshot_ids_name_nothing(client):
    response = client.get("/v2/snapshots/fbe805e8-866b-11e6-96bf-000f53315a41")

    assert_error(response, 404, "not_found")


def test_delete_snapshot_hides_it_everywhere(client, db):
    snapshot = add_image(db, "snapshot")

    response = client.delete(f"/v2/snapshots/{snapshot}")

    assert response.status_code == 204, response.text
    assert_error(client.get(f"/v2/snapshots/{snapshot}"), 404, "not_found")
    assert_error(client.get(f"/v2/images/{snapshot}"), 404, "not_found")
    assert client.get("/v2/snapshots").json()["snapshots"] == []
    assert_error(client.delete(f"/v2/snapshots/{snapshot}"), 404, "not_found")


# Image tags


def test_images_list_filters_by_tag(client, db, base_image):
    tagged = add_image(db, "custom", droplet_id=None, tags=["base-image"])
    add_image(db, "custom", droplet_id=None, tags=["other"])

    response = client.get("/v2/images?tag_name=base-image")

    assert response.status_code == 200, response.text
    assert [i["id"] for i in response.json()["images"]] == [tagged]
    assert response.json()["images"][0]["tags"] == ["base-image"]
