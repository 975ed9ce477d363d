"""/v2/tags, tagging droplets, and deleting droplets by tag."""

from __future__ import annotations

import pytest

from tests.unit.test_api_droplets import assert_error, create, total_droplets


def tag_body(droplet_id: int) -> dict:
    return {"resources": [{"resource_id": str(droplet_id), "resource_type": "droplet"}]}


def droplet_count(client, tag: str) -> int:
    response = client.get(f"/v2/tags/{tag}")
    assert response.status_code == 200, response.text
    return response.json()["tag"]["resources"]["droplets"]["count"]


def test_B06_colon_tags_in_paths_filters_and_resources(client, base_image):
    made = client.post("/v2/tags", json={"name": "env:prod"})
    bad = client.post("/v2/tags", json={"name": "type=app"})
    droplet = create(client, tags=["env:prod", "team_a"])
    droplet_id = droplet.json()["droplet"]["id"]

    assert made.status_code == 201, made.text
    assert made.json()["tag"]["name"] == "env:prod"
    assert_error(bad, 422, "unprocessable_entity")
    assert droplet.json()["droplet"]["tags"] == ["env:prod", "team_a"]
    listed = client.get("/v2/droplets?tag_name=env%3Aprod").json()["droplets"]
    assert [d["id"] for d in listed] == [droplet_id]
    assert droplet_count(client, "env:prod") == 1
    assert droplet_count(client, "env%3Aprod") == 1

    untag = client.request(
        "DELETE", "/v2/tags/env:prod/resources", json=tag_body(droplet_id)
    )

    assert untag.status_code == 204, untag.text
    assert untag.content == b""
    assert client.get("/v2/droplets?tag_name=env%3Aprod").json()["droplets"] == []


@pytest.mark.parametrize("name", ["a" * 256, "", "sp ace", "wé", "a/b"])
def test_B06_tag_names_outside_the_pattern_are_422(client, name):
    assert_error(
        client.post("/v2/tags", json={"name": name}), 422, "unprocessable_entity"
    )
    assert client.get("/v2/tags").json()["meta"] == {"total": 0}


def test_B06_tag_name_of_255_characters_is_accepted(client):
    response = client.post("/v2/tags", json={"name": "a" * 255})
    assert response.status_code == 201, response.text


def test_new_tag_has_zero_counts_and_no_uri(client):
    tag = client.post("/v2/tags", json={"name": "fresh"}).json()["tag"]

    assert tag["resources"]["count"] == 0
    assert tag["resources"]["droplets"] == {"count": 0}
    assert "last_tagged_uri" not in tag["resources"]


def test_tags_are_case_stable(client, base_image):
    first = client.post("/v2/tags", json={"name": "PROD"}).json()["tag"]
    again = client.post("/v2/tags", json={"name": "prod"})
    droplet = create(client, tags=["Prod"]).json()["droplet"]

    assert again.status_code == 201, again.text
    assert again.json()["tag"]["name"] == first["name"] == "PROD"
    assert droplet["tags"] == ["PROD"]
    assert client.get("/v2/tags").json()["meta"] == {"total": 1}


def test_tag_counts_and_last_tagged_uri_follow_tagging(client, base_image):
    client.post("/v2/tags", json={"name": "web"})
    first = create(client, name="w1").json()["droplet"]["id"]
    second = create(client, name="w2").json()["droplet"]["id"]

    client.post("/v2/tags/web/resources", json=tag_body(second))
    client.post("/v2/tags/web/resources", json=tag_body(first))
    client.post("/v2/tags/web/resources", json=tag_body(first))

    resources = client.get("/v2/tags/web").json()["tag"]["resources"]
    assert resources["count"] == 2
    assert resources["droplets"]["count"] == 2
    uri = f"http://testserver/v2/droplets/{first}"
    assert resources["droplets"]["last_tagged_uri"] == uri
    assert resources["last_tagged_uri"] == uri


def test_tags_list_is_paginated_and_sorted(client):
    for name in ("b", "a", "c"):
        client.post("/v2/tags", json={"name": name})

    body = client.get("/v2/tags?per_page=2").json()

    assert [t["name"] for t in body["tags"]] == ["a", "b"]
    assert body["meta"] == {"total": 3}
    assert "next" in body["links"]["pages"]


def test_delete_tag_untags_droplets_and_then_404(client, base_image):
    droplet = create(client, tags=["gone"]).json()["droplet"]["id"]

    assert client.delete("/v2/tags/gone").status_code == 204

    assert_error(client.get("/v2/tags/gone"), 404, "not_found")
    assert_error(client.delete("/v2/tags/gone"), 404, "not_found")
    assert client.get(f"/v2/droplets/{droplet}").json()["droplet"]["tags"] == []


def test_tagging_needs_an_existing_tag_and_droplet(client, base_image):
    droplet = create(client).json()["droplet"]["id"]
    client.post("/v2/tags", json={"name": "web"})

    no_tag = client.post("/v2/tags/nope/resources", json=tag_body(droplet))
    no_droplet = client.post("/v2/tags/web/resources", json=tag_body(424242))
    volume = client.post(
        "/v2/tags/web/resources",
        json={"resources": [{"resource_id": "v-1", "resource_type": "volume"}]},
    )
    bogus = client.post(
        "/v2/tags/web/resources",
        json={"resources": [{"resource_id": "1", "resource_type": "planet"}]},
    )
    no_body = client.post("/v2/tags/web/resources", json={})

    assert_error(no_tag, 404, "not_found")
    assert_error(no_droplet, 404, "not_found")
    assert_error(volume, 422, "unprocessable_entity")
    assert_error(bogus, 422, "unprocessable_entity")
    assert_error(no_body, 422, "unprocessable_entity")
    assert droplet_count(client, "web") == 0


@pytest.mark.parametrize("resource_id", ["²", "99999999999999999999999", "0"])
def test_tagging_a_droplet_id_that_is_no_integer_is_404(client, resource_id):
    client.post("/v2/tags", json={"name": "web"})

    response = client.post(
        "/v2/tags/web/resources",
        json={"resources": [{"resource_id": resource_id, "resource_type": "droplet"}]},
    )

    assert_error(response, 404, "not_found")


def test_tagging_accepts_integer_resource_ids(client, base_image):
    droplet = create(client).json()["droplet"]["id"]
    client.post("/v2/tags", json={"name": "web"})

    response = client.post(
        "/v2/tags/web/resources",
        json={"resources": [{"resource_id": droplet, "resource_type": "droplet"}]},
    )

    assert response.status_code == 204, response.text
    assert droplet_count(client, "web") == 1


def test_deleted_droplets_do_not_count(client, base_image):
    droplet = create(client, tags=["web"]).json()["droplet"]["id"]
    client.delete(f"/v2/droplets/{droplet}")

    assert droplet_count(client, "web") == 0


def test_delete_droplets_by_tag_deletes_only_those(client, base_image):
    doomed = [
        create(client, name=f"d{i}", tags=["env:test"]).json()["droplet"]["id"]
        for i in range(2)
    ]
    kept = create(client, name="kept").json()["droplet"]["id"]

    response = client.delete("/v2/droplets", params={"tag_name": "env:test"})

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert response.headers["content-type"].startswith("application/json")
    assert [d["id"] for d in client.get("/v2/droplets").json()["droplets"]] == [kept]
    actions = client.get("/v2/actions").json()["actions"]
    destroyed = sorted(a["resource_id"] for a in actions if a["type"] == "destroy")
    assert destroyed == doomed


def test_delete_droplets_needs_a_tag_and_an_existing_one(client, base_image):
    create(client)

    assert_error(client.delete("/v2/droplets"), 422, "unprocessable_entity")
    assert_error(client.delete("/v2/droplets?tag_name=nope"), 404, "not_found")
    assert total_droplets(client) == 1


def test_droplet_list_filter_by_unknown_tag_is_empty(client, base_image):
    create(client, tags=["web"])

    body = client.get("/v2/droplets?tag_name=nope").json()

    assert body["droplets"] == []
    assert body["meta"] == {"total": 0}
