"""The /v2 droplet exchange as clients see it (no hypervisor involved)."""

from __future__ import annotations

import pytest

BODY = {
    "name": "web-1",
    "region": "lab1",
    "size": "s-1vcpu-1gb",
    "image": "debian-12-x64",
}


def create(client, **changes):
    return client.post("/v2/droplets", json={**BODY, **changes})


def assert_error(response, status, error_id):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["id"] == error_id, body
    assert body["message"], body
    assert body["request_id"] == response.headers["x-request-id"]


def total_droplets(client) -> int:
    return client.get("/v2/droplets").json()["meta"]["total"]


def test_create_returns_202_new_droplet_with_create_action_link(client, base_image):
    response = create(client)

    assert response.status_code == 202, response.text
    body = response.json()
    droplet = body["droplet"]
    assert droplet["status"] == "new"
    assert droplet["networks"] == {"v4": [], "v6": []}
    assert droplet["image"]["slug"] == "debian-12-x64"
    assert droplet["size"]["slug"] == "s-1vcpu-1gb"
    assert droplet["region"]["slug"] == "lab1"
    assert isinstance(droplet["id"], int)
    (link,) = body["links"]["actions"]
    assert link["rel"] == "create"
    assert link["href"] == f"http://testserver/v2/actions/{link['id']}"

    action = client.get(f"/v2/actions/{link['id']}").json()["action"]
    assert action["status"] == "in-progress"
    assert action["type"] == "create"
    assert action["resource_id"] == droplet["id"]
    assert action["resource_type"] == "droplet"
    assert action["completed_at"] is None


def test_B03_droplet_actions_list_holds_the_create_action(client, base_image):
    droplet_id = create(client).json()["droplet"]["id"]

    actions = client.get(f"/v2/droplets/{droplet_id}/actions").json()

    assert [a["type"] for a in actions["actions"]] == ["create"], actions
    assert actions["meta"] == {"total": 1}
    assert actions["links"] == {}


def test_create_many_names_gives_one_create_action_each(client, base_image):
    body = {**BODY, "names": ["a1", "a2", "a3"]}
    del body["name"]

    response = client.post("/v2/droplets", json=body)

    assert response.status_code == 202, response.text
    assert [d["name"] for d in response.json()["droplets"]] == ["a1", "a2", "a3"]
    assert len(response.json()["links"]["actions"]) == 3


@pytest.mark.parametrize(
    "name", ["build_box_1", "web-", "a" * 256, "", "a b", "web.", "wéb"]
)
def test_B02_name_that_is_not_a_hostname_is_422_and_creates_nothing(
    client, base_image, name
):
    response = create(client, name=name)
    assert_error(response, 422, "unprocessable_entity")
    if name and len(name) <= 255:
        assert "hostname" in response.json()["message"]
    assert total_droplets(client) == 0


@pytest.mark.parametrize("name", ["build-box.1", "a" * 255, "x"])
def test_B02_hostname_names_are_accepted(client, base_image, name):
    response = create(client, name=name)
    assert response.status_code == 202, response.text
    assert response.json()["droplet"]["name"] == name


@pytest.mark.parametrize(
    "changes",
    [
        {"size": "s-64vcpu-1tb"},
        {"region": "nyc3"},
        {"image": "no-such-image"},
        {"image": 999},
    ],
)
def test_unknown_size_region_or_image_is_422_and_creates_nothing(
    client, base_image, changes
):
    assert_error(create(client, **changes), 422, "unprocessable_entity")
    assert total_droplets(client) == 0


def test_B10_user_data_over_64_kib_is_422(client, base_image):
    assert_error(
        create(client, user_data="x" * (64 * 1024 + 1)), 422, "unprocessable_entity"
    )
    assert create(client, user_data="x" * (64 * 1024)).status_code == 202
    assert total_droplets(client) == 1


def test_client_variants_of_not_given_are_accepted(client, base_image):
    # godo: region "" and null arrays; python-digitalocean: region [];
    # Ansible: unknown keys and string ids.
    for region in ("", [], None):
        response = create(
            client, region=region, ssh_keys=None, tags=None, user_data=None, timeout=30
        )
        assert response.status_code == 202, response.text
        assert response.json()["droplet"]["region"]["slug"] == "lab1"
    assert create(client, image=str(base_image)).status_code == 202


def test_missing_or_wrong_token_is_401(client, base_image):
    del client.headers["Authorization"]
    assert_error(client.get("/v2/droplets"), 401, "unauthorized")
    assert_error(create(client), 401, "unauthorized")
    client.headers["Authorization"] = "Bearer dop_v1_nope"
    assert_error(client.get("/v2/account"), 401, "unauthorized")


def test_read_only_token_cannot_create(client, db, base_image):
    from shoal.control import tokens

    with db.transaction() as session:
        read_only = tokens.create_token(session, "ro", ("read",))
    client.headers["Authorization"] = f"Bearer {read_only}"

    assert client.get("/v2/droplets").status_code == 200
    assert_error(create(client), 403, "forbidden")


def test_B01_error_bodies_are_digitalocean_shaped(client, base_image):
    assert_error(client.get("/v2/droplets/424242424"), 404, "not_found")
    truncated = client.post(
        "/v2/droplets",
        content=b'{"name": "alpha-1"',
        headers={"content-type": "application/json"},
    )
    assert_error(truncated, 400, "bad_request")
    assert_error(client.patch("/v2/droplets"), 405, "method_not_allowed")
    assert_error(client.get("/v2/no-such-thing"), 404, "not_found")
    assert_error(client.get("/v2/droplets/abc"), 404, "not_found")
    assert_error(client.get("/v2/droplets?page=zero"), 400, "bad_request")


def test_get_then_delete_then_404(client, base_image):
    droplet_id = create(client).json()["droplet"]["id"]
    assert client.get(f"/v2/droplets/{droplet_id}").status_code == 200

    response = client.delete(f"/v2/droplets/{droplet_id}")

    assert response.status_code == 204
    assert response.content == b""
    assert_error(client.get(f"/v2/droplets/{droplet_id}"), 404, "not_found")
    assert_error(client.delete(f"/v2/droplets/{droplet_id}"), 404, "not_found")
    assert total_droplets(client) == 0


def test_trailing_slash_is_served_without_redirect(client, base_image):
    response = client.post("/v2/droplets/", json=BODY, follow_redirects=False)
    assert response.status_code == 202, response.text
    droplet_id = response.json()["droplet"]["id"]
    assert (
        client.get(f"/v2/droplets/{droplet_id}/", follow_redirects=False).status_code
        == 200
    )
    assert client.get("/v2/account/", follow_redirects=False).status_code == 200


def test_pagination_links_are_absolute_and_carry_page(client, base_image):
    for index in range(5):
        assert create(client, name=f"p{index}").status_code == 202

    first = client.get("/v2/droplets?per_page=2").json()
    middle = client.get("/v2/droplets?per_page=2&page=2").json()

    assert first["meta"] == {"total": 5}
    assert [d["name"] for d in first["droplets"]] == ["p0", "p1"]
    assert set(first["links"]["pages"]) == {"next", "last"}
    assert "page=3" in first["links"]["pages"]["last"]
    assert first["links"]["pages"]["next"].startswith("http://testserver/v2/droplets?")
    assert set(middle["links"]["pages"]) == {"first", "prev", "next", "last"}


@pytest.mark.parametrize("page", ["99999999999999999999", "9223372036854775807"])
def test_page_far_past_the_end_is_empty_not_500(client, base_image, page):
    create(client)

    response = client.get(f"/v2/droplets?page={page}")

    assert response.status_code == 200, response.text
    assert response.json()["droplets"] == []
    assert response.json()["meta"] == {"total": 1}


def test_list_filters_by_tag_and_name(client, base_image):
    create(client, name="tagged", tags=["env:prod", "team_a"])
    create(client, name="plain")

    by_tag = client.get("/v2/droplets", params={"tag_name": "env:prod"}).json()
    by_name = client.get("/v2/droplets", params={"name": "PLAIN"}).json()

    assert [d["name"] for d in by_tag["droplets"]] == ["tagged"]
    assert by_tag["droplets"][0]["tags"] == ["env:prod", "team_a"]
    assert [d["name"] for d in by_name["droplets"]] == ["plain"]


def test_B06_bad_tag_on_create_is_422(client, base_image):
    assert_error(create(client, tags=["type=app"]), 422, "unprocessable_entity")
    assert total_droplets(client) == 0


def test_user_data_is_never_echoed(client, base_image):
    droplet = create(client, user_data="#!/bin/sh\necho secret\n").json()["droplet"]
    assert "user_data" not in droplet
    assert "secret" not in client.get(f"/v2/droplets/{droplet['id']}").text
