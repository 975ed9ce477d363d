"""Real DigitalOcean clients against Shoal's API on a loopback port.

Each client runs its own create -> wait -> IP -> action -> delete flow,
unchanged, pointed at a uvicorn server started in a thread (the ``live``
fixture of tests/unit/conftest.py). No engine
runs: where a client waits, the test first does to the database what the
engine would do (``settle``: the create action completed, the droplet
active with an address; see tests/unit/engine_stand_in.py). Every response
the clients received is then judged by DigitalOcean's spec.
"""

from __future__ import annotations

import pytest

from shoal.control import actions
from tests.unit.engine_stand_in import settle
from tests.unit.test_api_catalogue import ed25519_key

CREATE = {"size": "s-1vcpu-1gb", "image": "debian-12-x64", "region": "lab1"}


@pytest.fixture(autouse=True)
def engine_knows_power_on(monkeypatch):
    # The engine, were it running, would know power_on.
    monkeypatch.setattr(actions, "SUPPORTED", {"power_on"})


def test_pydo_full_flow(live, token, db, settings):
    import pydo
    from azure.core.pipeline.policies import HeadersPolicy

    # pydo refuses bearer tokens over plain HTTP unless given its own
    # authentication policy (notes §7.3).
    client = pydo.Client(
        token,
        endpoint=live,
        authentication_policy=HeadersPolicy({"Authorization": f"Bearer {token}"}),
    )
    assert "s-1vcpu-1gb" in [s["slug"] for s in client.sizes.list()["sizes"]]
    assert [r["slug"] for r in client.regions.list()["regions"]] == ["lab1"]
    images = client.images.list(type="distribution")["images"]
    assert [i["slug"] for i in images] == ["debian-12-x64"]
    key = client.ssh_keys.create({"name": "pydo", "public_key": ed25519_key(b"p")})

    body = {**CREATE, "name": "pydo-1", "tags": ["env:pydo"]}
    body["ssh_keys"] = [key["ssh_key"]["fingerprint"]]
    created = client.droplets.create(body)
    droplet_id = created["droplet"]["id"]
    settle(db, settings)

    create_action = client.actions.get(created["links"]["actions"][0]["id"])
    assert create_action["action"]["status"] == "completed"
    droplet = client.droplets.get(droplet_id)["droplet"]
    (public,) = [n for n in droplet["networks"]["v4"] if n["type"] == "public"]
    assert public["ip_address"].startswith("10.118.0.")
    assert droplet["tags"] == ["env:pydo"]

    action = client.droplet_actions.post(droplet_id, {"type": "power_on"})["action"]
    settle(db, settings)
    assert client.actions.get(action["id"])["action"]["status"] == "completed"

    client.droplets.destroy(droplet_id)
    settle(db, settings)
    assert client.droplets.get(droplet_id)["id"] == "not_found"


def test_python_digitalocean_full_flow(live, token, db, settings, monkeypatch):
    import digitalocean

    # Objects the library makes for itself read only this variable (§7.4).
    monkeypatch.setenv("DIGITALOCEAN_END_POINT", f"{live}/v2/")
    manager = digitalocean.Manager(token=token)
    assert "s-1vcpu-1gb" in [s.slug for s in manager.get_all_sizes()]
    assert [r.slug for r in manager.get_all_regions()] == ["lab1"]
    assert [i.slug for i in manager.get_distro_images()] == ["debian-12-x64"]
    key = digitalocean.SSHKey(token=token, name="pdo", public_key=ed25519_key(b"d"))
    key.create()

    droplet = digitalocean.Droplet(
        token=token,
        name="pdo-1",
        region="lab1",
        image="debian-12-x64",
        size_slug="s-1vcpu-1gb",
        ssh_keys=[key],
        tags=["env:pdo"],
    )
    droplet.create()
    settle(db, settings)

    for action in droplet.get_actions():
        action.load()
        assert action.status == "completed"
    droplet.load()
    assert droplet.ip_address.startswith("10.118.0.")
    assert droplet.status == "active"

    action = droplet.power_on(return_dict=False)
    settle(db, settings)
    action.load()
    assert action.status == "completed"

    assert droplet.destroy() is True
    settle(db, settings)
    with pytest.raises(digitalocean.NotFoundError):
        droplet.load()


def test_libcloud_full_flow(live, token, db, settings):
    from libcloud.compute.drivers.digitalocean import DigitalOceanNodeDriver
    from libcloud.compute.types import NodeState

    # The driver ignores host and port arguments; repoint its connection
    # after construction (notes §7.5).
    driver = DigitalOceanNodeDriver(token, api_version="v2")
    host, port = live.removeprefix("http://").split(":")
    driver.connection.host = host
    driver.connection.port = int(port)
    driver.connection.secure = False
    driver.connection.connect()

    size = next(s for s in driver.list_sizes() if s.id == "s-1vcpu-1gb")
    (location,) = driver.list_locations()
    (image,) = [i for i in driver.list_images() if i.extra["slug"] == "debian-12-x64"]
    key = driver.create_key_pair("lc", ed25519_key(b"l"))

    node = driver.create_node(
        "lc-1",
        size,
        image,
        location,
        ex_create_attr={"ssh_keys": [key.fingerprint], "tags": ["env:lc"]},
    )
    assert node.state == NodeState.PENDING
    settle(db, settings)

    ((running, addresses),) = driver.wait_until_running(
        [node], wait_period=0.1, timeout=10
    )
    assert running.state == NodeState.RUNNING
    assert addresses[0].startswith("10.118.0.")
    assert running.extra["tags"] == ["env:lc"]

    assert driver.ex_power_on_node(running) is True
    settle(db, settings)

    assert driver.destroy_node(running) is True
    settle(db, settings)
    assert driver.list_nodes() == []
