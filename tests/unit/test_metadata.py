"""The metadata service answers each droplet with its own data only."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from shoal.api.metadata import create_metadata_app
from shoal.control import droplets
from shoal.control.addresses import mac_for
from shoal.control.metadata import MetadataSource
from shoal.control.models import Droplet


@pytest.fixture
def two_droplets(db, settings, base_image):
    ids = []
    for index, name in enumerate(["alpha", "beta"], start=2):
        request = droplets.DropletRequest(
            names=[name], size="s-1vcpu-1gb", image="debian-12-x64",
            user_data=f"#!/bin/sh\necho {name}\n", tags=["web"],
        )  # fmt: skip
        with db.transaction() as session:
            ((droplet, _),) = droplets.create_droplets(session, settings, request)
            droplet.ipv4, droplet.mac = f"10.118.0.{index}", mac_for(droplet.id)
            ids.append(droplet.id)
    return ids


def metadata_client(db, settings, neighbours: dict[str, str]) -> TestClient:
    source = MetadataSource(db, settings)
    app = create_metadata_app(source, resolver=neighbours.get)
    return TestClient(app, client=("169.254.7.9", 4321))


def test_v1_json_is_the_callers_own_document(db, settings, two_droplets):
    alpha, beta = two_droplets
    client = metadata_client(db, settings, {"169.254.7.9": mac_for(alpha)})

    doc = client.get("/metadata/v1.json").json()

    assert doc["droplet_id"] == alpha
    assert doc["hostname"] == "alpha"
    assert doc["user_data"] == "#!/bin/sh\necho alpha\n"
    (public,) = doc["interfaces"]["public"]
    assert public["mac"] == mac_for(alpha)
    assert public["ipv4"]["ip_address"] == "10.118.0.2"
    assert doc["dns"]["nameservers"]
    assert "private" not in doc["interfaces"]
    assert json.dumps(doc).count("beta") == 0


def test_tree_leaves_are_plain_text_and_folders_end_in_slash(
    db, settings, two_droplets
):
    alpha, _ = two_droplets
    client = metadata_client(db, settings, {"169.254.7.9": mac_for(alpha)})

    assert client.get("/metadata/v1/id").text == str(alpha)
    assert client.get("/metadata/v1/hostname").text == "alpha"
    assert client.get("/metadata/v1/interfaces/public/0/mac").text == mac_for(alpha)
    index = client.get("/metadata/v1/").text.splitlines()
    assert "interfaces/" in index and "hostname" in index
    assert client.get("/metadata/v1/tags/").text == "web\n"
    assert client.get("/metadata/v1/nope").status_code == 404


def test_unknown_caller_gets_404_never_data(db, settings, two_droplets):
    client = metadata_client(db, settings, {})
    assert client.get("/metadata/v1.json").status_code == 404
    assert client.get("/metadata/v1/id").status_code == 404


def test_deleted_droplet_is_not_served(db, settings, two_droplets):
    alpha, _ = two_droplets
    with db.transaction() as session:
        session.get(Droplet, alpha).deleted = True
    client = metadata_client(db, settings, {"169.254.7.9": mac_for(alpha)})
    assert client.get("/metadata/v1.json").status_code == 404
