"""The metadata service answers each droplet with its own data only, in
DigitalOcean's layout: v1.json as one object, the /metadata/v1/ tree as
plain text, folders redirecting to their slash form."""

from __future__ import annotations

import hashlib
import json

import pytest
from fastapi.testclient import TestClient

from shoal.api.metadata import create_metadata_app
from shoal.control import droplets
from shoal.control.addresses import mac_for
from shoal.control.metadata import MetadataSource
from shoal.control.models import Droplet

MULTIPART = (
    'Content-Type: multipart/mixed; boundary="==b=="\r\n'
    "MIME-Version: 1.0\r\n\r\n"
    "--==b==\r\n"
    'Content-Type: text/cloud-config; charset="utf-8"\r\n\r\n'
    "#cloud-config\r\nwrite_files:\r\n- path: /etc/part-a\r\n  content: é ✓\r\n"
    "--==b==\r\n"
    'Content-Type: text/x-shellscript; charset="us-ascii"\r\n\r\n'
    "#!/bin/sh\ntouch /etc/part-b\n"
    "--==b==--\r\n"
)


def make_droplet(db, settings, name, index, user_data, tags=("web",), keys=()):
    request = droplets.DropletRequest(
        names=[name], size="s-1vcpu-1gb", image="debian-12-x64",
        user_data=user_data, tags=list(tags),
    )  # fmt: skip
    with db.transaction() as session:
        ((droplet, _),) = droplets.create_droplets(session, settings, request)
        droplet.ipv4, droplet.mac = f"10.118.0.{index}", mac_for(droplet.id)
        droplet.public_keys = list(keys)
        return droplet.id


@pytest.fixture
def two_droplets(db, settings, base_image):
    alpha = make_droplet(
        db, settings, "alpha", 2, MULTIPART, keys=["ssh-ed25519 AAAAalpha a@x"]
    )
    beta = make_droplet(db, settings, "beta", 3, "#!/bin/sh\necho beta\n")
    return alpha, beta


def metadata_client(db, settings, mac: str | None) -> TestClient:
    """A client the service identifies as the droplet with `mac`."""
    app = create_metadata_app(MetadataSource(db, settings), lambda request: mac)
    return TestClient(app, client=("169.254.7.9", 4321), follow_redirects=False)


def test_B14_v1_json_is_the_callers_own_document(db, settings, two_droplets):
    alpha, _ = two_droplets
    response = metadata_client(db, settings, mac_for(alpha)).get("/metadata/v1.json")

    assert response.headers["content-type"] == "application/json", response.text
    doc = response.json()
    assert doc["droplet_id"] == alpha
    assert doc["hostname"] == "alpha"
    assert doc["region"] == settings.region.slug
    assert doc["public_keys"] == ["ssh-ed25519 AAAAalpha a@x"]
    assert doc["tags"] == ["web"]
    assert doc["interfaces"] == {
        "public": [
            {
                "ipv4": {
                    "ip_address": "10.118.0.2",
                    "netmask": "255.255.255.0",
                    "gateway": "10.118.0.1",
                },
                "mac": mac_for(alpha),
                "type": "public",
            }
        ]
    }
    assert doc["floating_ip"] == {"ipv4": {"active": False}}
    assert doc["reserved_ip"] == {"ipv4": {"active": False}}
    assert doc["features"] == {"dhcp_enabled": True}


def test_B14_dns_nameservers_are_never_empty(db, settings, two_droplets):
    alpha, _ = two_droplets
    settings.network.nameservers = []

    doc = metadata_client(db, settings, mac_for(alpha)).get("/metadata/v1.json").json()

    assert doc["dns"] == {"nameservers": ["10.118.0.1"]}


def test_second_droplets_data_is_never_returned(db, settings, two_droplets):
    alpha, beta = two_droplets

    for own, other, name in ((alpha, beta, "beta"), (beta, alpha, "alpha")):
        client = metadata_client(db, settings, mac_for(own))
        doc = client.get("/metadata/v1.json").json()
        assert doc["droplet_id"] == own
        assert mac_for(other) not in json.dumps(doc)
        assert name not in json.dumps(doc)
        assert client.get("/metadata/v1/id").text == str(own)


def test_index_lists_what_digitalocean_lists(db, settings, two_droplets):
    client = metadata_client(db, settings, mac_for(two_droplets[0]))

    index = client.get("/metadata/v1/")

    assert index.headers["content-type"].startswith("text/plain"), index.text
    assert index.text.splitlines() == [
        "id", "hostname", "user-data", "vendor-data", "public-keys", "region",
        "interfaces/", "dns/", "floating_ip/", "reserved_ip/", "tags/", "features/",
    ]  # fmt: skip
    assert client.get("/metadata/v1/interfaces/").text == "public/\n"
    assert client.get("/metadata/v1/interfaces/public/").text == "0/\n"
    assert client.get("/metadata/v1/interfaces/public/0/").text == "mac\ntype\nipv4/\n"
    assert client.get("/metadata/v1/floating_ip/ipv4/").text == "active\n"
    assert client.get("/metadata/v1/tags/").text == "web\n"


def test_B14_leaves_are_bare_plain_text_values(db, settings, two_droplets):
    alpha, _ = two_droplets
    client = metadata_client(db, settings, mac_for(alpha))
    leaves = {
        "id": str(alpha),
        "hostname": "alpha",
        "region": settings.region.slug,
        "public-keys": "ssh-ed25519 AAAAalpha a@x",
        "interfaces/public/0/mac": mac_for(alpha),
        "interfaces/public/0/type": "public",
        "interfaces/public/0/ipv4/address": "10.118.0.2",
        "interfaces/public/0/ipv4/netmask": "255.255.255.0",
        "interfaces/public/0/ipv4/gateway": "10.118.0.1",
        "dns/nameservers": "10.118.0.1",
        "floating_ip/ipv4/active": "false",
        "reserved_ip/ipv4/active": "false",
        "features/dhcp_enabled": "true",
    }

    for path, value in leaves.items():
        response = client.get(f"/metadata/v1/{path}")
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text == value, path


@pytest.mark.parametrize(
    "path",
    ["/metadata/v1", "/metadata/v1/interfaces", "/metadata/v1/interfaces/public/0"],
)
def test_folder_without_its_slash_is_a_301_to_the_slash_form(
    db, settings, two_droplets, path
):
    client = metadata_client(db, settings, mac_for(two_droplets[0]))

    response = client.get(path)

    assert response.status_code == 301, response.text
    assert response.headers["location"] == path + "/"


@pytest.mark.parametrize(
    "path",
    [
        "/metadata/v1/nope",
        "/metadata/v1/hostname/",
        "/metadata/v1/interfaces/private/0/mac",
        "/metadata/v1/interfaces/public/0/anchor_ipv4/address",
        "/metadata/v1/interfaces/public/0/ipv6/address",
        "/metadata/v1/interfaces/public/1/mac",
        "/metadata/v2.json",
        "/metadata/v1.json/",
        "/metadata/",
    ],
)
def test_what_does_not_exist_is_404(db, settings, two_droplets, path):
    client = metadata_client(db, settings, mac_for(two_droplets[0]))

    assert client.get(path).status_code == 404, path


def test_B10_user_data_is_served_byte_for_byte(db, settings, two_droplets):
    alpha, _ = two_droplets
    client = metadata_client(db, settings, mac_for(alpha))
    posted = hashlib.sha256(MULTIPART.encode()).hexdigest()

    leaf = client.get("/metadata/v1/user-data").content
    document = client.get("/metadata/v1.json").json()["user_data"]

    assert hashlib.sha256(leaf).hexdigest() == posted
    assert hashlib.sha256(document.encode()).hexdigest() == posted


def test_user_data_is_left_out_when_none_was_given(db, settings, base_image):
    droplet_id = make_droplet(db, settings, "plain", 4, None)
    client = metadata_client(db, settings, mac_for(droplet_id))

    assert "user_data" not in client.get("/metadata/v1.json").json()
    assert client.get("/metadata/v1/user-data").text == ""


def test_vendor_data_lets_root_log_in_with_the_keys(db, settings, two_droplets):
    client = metadata_client(db, settings, mac_for(two_droplets[0]))

    vendor = client.get("/metadata/v1/vendor-data").text

    assert vendor.startswith("#cloud-config\n")
    assert "disable_root: false" in vendor.splitlines()
    assert client.get("/metadata/v1.json").json()["vendor_data"] == vendor


@pytest.mark.parametrize(
    "path", ["/metadata/v1.json", "/metadata/v1/", "/metadata/v1/id", "/metadata/v1"]
)
def test_unknown_caller_gets_404_never_data(db, settings, two_droplets, path):
    for mac in (None, "52:54:00:ff:ff:ff"):
        response = metadata_client(db, settings, mac).get(path)
        assert response.status_code == 404, (mac, response.text)


def test_deleted_droplet_is_not_served(db, settings, two_droplets):
    alpha, _ = two_droplets
    with db.transaction() as session:
        session.get(Droplet, alpha).deleted = True

    client = metadata_client(db, settings, mac_for(alpha))

    assert client.get("/metadata/v1.json").status_code == 404
