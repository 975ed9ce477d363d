"""What hangs off droplets: snapshots, backups, kernels, neighbours, firewalls,
backup policies, and the list filters ``type`` and ``name``.

The engine does not run; ``settle`` stands in for it where a droplet must
be active on a host (see tests/unit/engine_stand_in.py).
"""

from __future__ import annotations

import pytest

from shoal.control.models import Droplet
from tests.unit.engine_stand_in import settle
from tests.unit.test_api_droplet_actions import add_snapshot
from tests.unit.test_api_droplets import assert_error, create

EMPTY_LISTS = ["snapshots", "backups", "kernels", "firewalls"]


@pytest.fixture
def droplet(client, db, settings, base_image) -> int:
    droplet_id = create(client).json()["droplet"]["id"]
    settle(db, settings)
    return droplet_id


@pytest.mark.parametrize("kind", EMPTY_LISTS)
def test_droplet_lists_are_empty_with_links_and_meta(client, droplet, kind):
    response = client.get(f"/v2/droplets/{droplet}/{kind}")

    assert response.status_code == 200, response.text
    assert response.json() == {kind: [], "links": {}, "meta": {"total": 0}}


@pytest.mark.parametrize("kind", [*EMPTY_LISTS, "neighbors", "backups/policy"])
def test_droplet_lists_of_unknown_droplet_are_404(client, kind):
    assert_error(client.get(f"/v2/droplets/424242/{kind}"), 404, "not_found")


def test_snapshots_list_and_snapshot_ids_show_real_snapshots(client, db, droplet):
    snapshot = add_snapshot(db, droplet)

    listed = client.get(f"/v2/droplets/{droplet}/snapshots").json()
    shown = client.get(f"/v2/droplets/{droplet}").json()["droplet"]

    assert [s["id"] for s in listed["snapshots"]] == [snapshot]
    assert listed["snapshots"][0]["type"] == "snapshot"
    assert listed["snapshots"][0]["regions"] == ["lab1"]
    assert listed["meta"] == {"total": 1}
    assert shown["snapshot_ids"] == [snapshot]
    assert shown["backup_ids"] == []


def test_neighbors_are_the_droplets_on_the_same_host(client, db, settings, droplet):
    other = create(client, name="other").json()["droplet"]["id"]
    elsewhere = create(client, name="elsewhere").json()["droplet"]["id"]
    settle(db, settings)
    with db.transaction() as session:
        session.get(Droplet, elsewhere).host = "another-host"

    neighbors = client.get(f"/v2/droplets/{droplet}/neighbors").json()
    report = client.get("/v2/reports/droplet_neighbors_ids").json()

    assert [d["id"] for d in neighbors["droplets"]] == [other]
    assert report == {"neighbor_ids": [[droplet, other]]}


def test_droplet_not_yet_placed_has_no_neighbors(client, base_image):
    droplet_id = create(client).json()["droplet"]["id"]

    assert client.get(f"/v2/droplets/{droplet_id}/neighbors").json() == {"droplets": []}


def test_backup_policies_say_backups_are_off(client, droplet):
    policies = client.get("/v2/droplets/backups/policies").json()
    one = client.get(f"/v2/droplets/{droplet}/backups/policy").json()

    assert policies["policies"] == {
        str(droplet): {
            "droplet_id": droplet,
            "backup_enabled": False,
            "next_backup_window": None,
        }
    }
    assert policies["meta"] == {"total": 1}
    assert one["policy"] == policies["policies"][str(droplet)]


def test_supported_backup_policies_are_daily_and_weekly(client):
    body = client.get("/v2/droplets/backups/supported_policies").json()

    names = {p["name"]: p for p in body["supported_policies"]}
    assert set(names) == {"daily", "weekly"}
    assert names["weekly"]["possible_days"][0] == "SUN"
    assert names["daily"]["possible_window_starts"] == [0, 4, 8, 12, 16, 20]


def test_gpu_list_is_empty_and_type_droplets_lists_all(client, droplet):
    gpus = client.get("/v2/droplets?type=gpus").json()
    plain = client.get("/v2/droplets?type=droplets").json()

    assert gpus["droplets"] == [] and gpus["meta"] == {"total": 0}
    assert [d["id"] for d in plain["droplets"]] == [droplet]


@pytest.mark.parametrize(
    "query", ["type=tpus", "tag_name=web&type=droplets", "tag_name=web&name=web-1"]
)
def test_list_filters_that_do_not_combine_are_422(client, query):
    assert_error(client.get(f"/v2/droplets?{query}"), 422, "unprocessable_entity")


def test_name_filter_is_exact_and_case_insensitive(client, base_image):
    create(client, name="web")
    create(client, name="web-2")
    create(client, name="WEB")

    found = client.get("/v2/droplets?name=Web").json()["droplets"]

    assert sorted(d["name"] for d in found) == ["WEB", "web"]
