"""Sizes, regions, images, account and SSH keys."""

from __future__ import annotations

import base64
import hashlib
import struct

from tests.unit.test_api_droplets import assert_error


def ed25519_key(seed: bytes = b"k") -> str:
    kind = b"ssh-ed25519"
    blob = (
        struct.pack(">I", len(kind))
        + kind
        + struct.pack(">I", 32)
        + seed * (32 // len(seed))
    )
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} someone@example"


def test_sizes_have_what_clients_index(client):
    body = client.get("/v2/sizes").json()
    size = next(s for s in body["sizes"] if s["slug"] == "s-1vcpu-1gb")
    for key in ("memory", "vcpus", "disk", "transfer", "price_monthly", "price_hourly"):
        assert key in size, size
    assert size["regions"] == ["lab1"]
    assert size["available"] is True
    assert body["meta"]["total"] == len(body["sizes"])


def test_regions_list_the_configured_region(client):
    (region,) = client.get("/v2/regions").json()["regions"]
    assert region["slug"] == "lab1"
    assert "s-1vcpu-1gb" in region["sizes"]
    assert region["available"] is True


def test_images_by_id_slug_and_distribution_filter(client, base_image):
    listed = client.get("/v2/images?type=distribution").json()["images"]
    by_slug = client.get("/v2/images/debian-12-x64").json()["image"]
    by_id = client.get(f"/v2/images/{base_image}").json()["image"]

    assert [i["slug"] for i in listed] == ["debian-12-x64"]
    assert by_slug == by_id
    assert by_slug["distribution"] == "Debian"
    assert by_slug["public"] is True
    assert client.get("/v2/images?private=true").json()["images"] == []
    assert_error(client.get("/v2/images/nope"), 404, "not_found")


def test_account(client):
    account = client.get("/v2/account").json()["account"]
    assert account["status"] == "active"
    assert account["droplet_limit"] == 25


def test_firewalls_list_is_empty_not_missing(client):
    assert client.get("/v2/firewalls").json() == {
        "firewalls": [],
        "links": {},
        "meta": {"total": 0},
    }


def test_ssh_key_create_and_lookup_by_id_and_fingerprint(client):
    public_key = ed25519_key()
    blob = base64.b64decode(public_key.split()[1])
    digest = hashlib.md5(blob).hexdigest()
    expected = ":".join(digest[i : i + 2] for i in range(0, 32, 2))

    created = client.post(
        "/v2/account/keys", json={"name": "me", "public_key": public_key}
    )

    assert created.status_code == 201, created.text
    key = created.json()["ssh_key"]
    assert key["fingerprint"] == expected
    assert client.get(f"/v2/account/keys/{key['id']}").json()["ssh_key"] == key
    assert client.get(f"/v2/account/keys/{expected}").json()["ssh_key"] == key
    assert client.get("/v2/account/keys").json()["meta"] == {"total": 1}


def test_invalid_ssh_key_is_422(client):
    for bad in (
        "not a key",
        "ssh-rsa !!!notbase64",
        ed25519_key().replace("ed25519 ", "rsa "),
    ):
        response = client.post(
            "/v2/account/keys", json={"name": "x", "public_key": bad}
        )
        assert_error(response, 422, "unprocessable_entity")
    assert client.get("/v2/account/keys").json()["meta"] == {"total": 0}


def test_droplet_create_with_key_by_fingerprint_and_unknown_key(client, base_image):
    key = client.post(
        "/v2/account/keys", json={"name": "me", "public_key": ed25519_key()}
    ).json()["ssh_key"]
    body = {"name": "k", "size": "s-1vcpu-1gb", "image": "debian-12-x64"}

    ok = client.post("/v2/droplets", json={**body, "ssh_keys": [key["fingerprint"]]})
    bad = client.post("/v2/droplets", json={**body, "ssh_keys": [12345]})

    assert ok.status_code == 202, ok.text
    assert_error(bad, 422, "unprocessable_entity")
