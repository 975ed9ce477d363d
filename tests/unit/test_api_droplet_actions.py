"""POST /v2/droplets/{id}/actions and /v2/droplets/actions?tag_name=.

No engine runs here: ``settle`` stands in for it where a test needs the
create action finished (see tests/unit/engine_stand_in.py).
"""

from __future__ import annotations

import pytest

from shoal.control import actions, droplet_actions
from shoal.control.errors import Unprocessable
from shoal.control.models import Droplet, Image
from tests.unit.engine_stand_in import settle
from tests.unit.test_api_droplets import BODY as BODY_FOR_LIVE
from tests.unit.test_api_droplets import assert_error, create

# A valid body for each type the spec lists, plus enable_private_networking.
VALID = {
    "enable_backups": {"backup_policy": {"plan": "weekly", "weekday": "SUN"}},
    "disable_backups": {},
    "change_backup_policy": {"backup_policy": {"plan": "daily", "hour": 4}},
    "reboot": {},
    "power_cycle": {},
    "shutdown": {},
    "power_off": {},
    "power_on": {},
    "restore": {"image": "SNAPSHOT"},
    "password_reset": {},
    "resize": {"size": "s-2vcpu-2gb", "disk": True},
    "rebuild": {"image": "debian-12-x64"},
    "rename": {"name": "renamed.example"},
    "change_kernel": {"kernel": 7515},
    "enable_ipv6": {},
    "snapshot": {"name": "golden-1"},
    "enable_private_networking": {},
}


@pytest.fixture
def supported(monkeypatch):
    """Pretend the engine can do every type, for tests about the API."""
    monkeypatch.setattr(actions, "SUPPORTED", set(droplet_actions.TYPES))
    return actions.SUPPORTED


@pytest.fixture
def wakes(client):
    """How many times the API woke the engine."""
    calls = []
    client.app.state.services.wake_engine = lambda: calls.append(1)
    return calls


@pytest.fixture
def droplet(client, db, settings, base_image) -> int:
    """An active droplet whose create action has completed."""
    droplet_id = create(client).json()["droplet"]["id"]
    settle(db, settings)
    return droplet_id


def post(client, droplet_id: int, **body):
    return client.post(f"/v2/droplets/{droplet_id}/actions", json=body)


def types_of(client, droplet_id: int) -> list[str]:
    listed = client.get(f"/v2/droplets/{droplet_id}/actions").json()["actions"]
    return [a["type"] for a in listed]


def set_status(db, droplet_id: int, status: str) -> None:
    with db.transaction() as session:
        session.get(Droplet, droplet_id).status = status


def add_snapshot(db, droplet_id: int | None) -> int:
    with db.transaction() as session:
        image = Image(
            name="golden-1",
            type="snapshot",
            public=False,
            slug=None,
            path="/nowhere",
            droplet_id=droplet_id,
            min_disk_size=25,
        )
        session.add(image)
        session.flush()
        return image.id


def valid_body(db, droplet_id: int, type_: str) -> dict:
    body = dict(VALID[type_])
    if type_ == "restore":
        body["image"] = add_snapshot(db, droplet_id)
    if type_ == "resize":
        set_status(db, droplet_id, "off")
    if type_ == "change_backup_policy":
        with db.transaction() as session:
            session.get(Droplet, droplet_id).backups_enabled = True
    return body


# The types Shoal refuses for good, each with its reason (issue 4).
PERFORMED = sorted(set(VALID) - set(actions.REFUSED))


@pytest.mark.parametrize("type_", PERFORMED)
def test_every_action_type_is_recorded_once_the_engine_supports_it(
    client, db, droplet, supported, wakes, type_
):
    response = post(client, droplet, type=type_, **valid_body(db, droplet, type_))

    assert response.status_code == 201, response.text
    action = response.json()["action"]
    assert action["type"] == type_
    assert action["status"] == "in-progress"
    assert action["resource_id"] == droplet
    assert action["resource_type"] == "droplet"
    assert wakes, "the engine was not woken"
    assert client.get(f"/v2/droplets/{droplet}").json()["droplet"]["locked"] is True


@pytest.mark.parametrize("type_", sorted(actions.REFUSED))
def test_refused_action_type_is_422_with_its_reason(
    client, db, droplet, supported, type_
):
    response = post(client, droplet, type=type_, **valid_body(db, droplet, type_))

    assert_error(response, 422, "unprocessable_entity")
    assert response.json()["message"] == actions.REFUSED[type_]
    assert types_of(client, droplet) == ["create"]


def test_change_backup_policy_without_backups_is_422(client, droplet, supported):
    body = VALID["change_backup_policy"]
    response = post(client, droplet, type="change_backup_policy", **body)

    assert_error(response, 422, "unprocessable_entity")
    assert "not enabled" in response.json()["message"]


@pytest.mark.parametrize("type_", PERFORMED)
def test_action_type_the_engine_lacks_is_422_and_records_nothing(
    client, db, droplet, type_
):
    response = post(client, droplet, type=type_, **valid_body(db, droplet, type_))

    assert_error(response, 422, "unprocessable_entity")
    assert response.json()["message"] == (
        f"The action type {type_} is not supported by Shoal yet."
    )
    assert types_of(client, droplet) == ["create"]


def test_B01_unknown_action_type_is_422(client, droplet, supported):
    assert_error(post(client, droplet, type="levitate"), 422, "unprocessable_entity")
    assert_error(post(client, droplet), 422, "unprocessable_entity")
    assert types_of(client, droplet) == ["create"]


def test_action_on_unknown_droplet_is_404(client, supported):
    assert_error(post(client, 424242, type="power_on"), 404, "not_found")
    assert_error(post(client, "abc", type="power_on"), 404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"type": "resize"},
        {"type": "resize", "size": "s-64vcpu-1tb"},
        {"type": "rebuild"},
        {"type": "rebuild", "image": "no-such-image"},
        {"type": "rebuild", "image": 999},
        {"type": "rename"},
        {"type": "rename", "name": "build_box_1"},
        {"type": "rename", "name": "a" * 256},
        {"type": "restore"},
        {"type": "restore", "image": "debian-12-x64"},
        {"type": "restore", "image": 999},
        {"type": "change_kernel"},
        {"type": "change_kernel", "kernel": "not-a-number"},
        {"type": "change_backup_policy"},
        {"type": "enable_backups", "backup_policy": {"plan": "hourly"}},
        {"type": "enable_backups", "backup_policy": {"hour": 3}},
        {"type": "snapshot", "name": 17},
        {"type": "resize", "size": "s-2vcpu-2gb", "disk": "maybe"},
    ],
    ids=lambda body: "-".join(f"{k}={v}"[:30] for k, v in body.items()),
)
def test_action_fields_are_checked_per_type(client, db, droplet, supported, body):
    set_status(db, droplet, "off")

    assert_error(post(client, droplet, **body), 422, "unprocessable_entity")
    assert types_of(client, droplet) == ["create"]


def test_restore_takes_only_this_droplets_own_snapshot(client, db, droplet, supported):
    someone_elses = add_snapshot(db, droplet + 1000)

    response = post(client, droplet, type="restore", image=someone_elses)

    assert_error(response, 422, "unprocessable_entity")


def test_B22_resize_never_shrinks_the_disk(client, db, droplet, supported):
    with db.transaction() as session:
        session.get(Droplet, droplet).disk = 60
    set_status(db, droplet, "off")

    response = post(client, droplet, type="resize", size="s-1vcpu-1gb", disk=True)

    assert_error(response, 422, "unprocessable_entity")
    assert "cannot shrink" in response.json()["message"]


def test_B22_resize_without_disk_growth_may_go_back_down(
    client, db, droplet, supported
):
    set_status(db, droplet, "off")

    response = post(client, droplet, type="resize", size="s-1vcpu-1gb", disk=False)

    assert response.status_code == 201, response.text


def test_B22_resize_of_a_running_droplet_is_422(client, droplet, supported):
    response = post(client, droplet, type="resize", size="s-2vcpu-2gb")

    assert_error(response, 422, "unprocessable_entity")
    assert "power it off" in response.json()["message"]


def test_rebuild_takes_a_numeric_string_image_id(
    client, droplet, base_image, supported
):
    response = post(client, droplet, type="rebuild", image=str(base_image))

    assert response.status_code == 201, response.text


def test_snapshot_without_a_name_gets_droplet_name_and_time(
    client, db, droplet, supported
):
    response = post(client, droplet, type="snapshot")

    assert response.status_code == 201, response.text
    with db.transaction() as session:
        action = actions.get_action(session, response.json()["action"]["id"])
        assert action.params["name"].startswith("web-1-"), action.params


def test_B24_second_action_while_one_is_pending_is_422_and_not_recorded(
    client, db, settings, droplet, supported
):
    first = post(client, droplet, type="power_off")
    second = post(client, droplet, type="power_off")
    third = post(client, droplet, type="reboot")

    assert first.status_code == 201, first.text
    assert_error(second, 422, "unprocessable_entity")
    assert "already has a pending event" in second.json()["message"]
    assert_error(third, 422, "unprocessable_entity")
    assert types_of(client, droplet) == ["power_off", "create"]

    settle(db, settings)
    assert client.get(f"/v2/droplets/{droplet}").json()["droplet"]["locked"] is False
    assert post(client, droplet, type="power_on").status_code == 201


def test_B24_pending_action_does_not_block_another_droplet(
    client, db, settings, droplet, supported
):
    other = create(client, name="other").json()["droplet"]["id"]
    settle(db, settings)

    assert post(client, droplet, type="power_off").status_code == 201
    assert post(client, other, type="power_off").status_code == 201


def test_B24_action_during_create_is_422(client, base_image, supported):
    droplet_id = create(client).json()["droplet"]["id"]

    assert_error(post(client, droplet_id, type="power_on"), 422, "unprocessable_entity")


def test_B24_database_refuses_a_second_pending_action_that_raced_the_check(
    db, settings, droplet
):
    # Two requests can both pass ensure_idle before either commits; the
    # unique index on pending actions stops the second one at its insert.
    with db.transaction() as session:
        actions.record(session, session.get(Droplet, droplet), "power_off")

    with pytest.raises(Unprocessable, match="pending event"):
        with db.transaction() as session:
            actions.record(session, session.get(Droplet, droplet), "shutdown")


def test_delete_is_accepted_while_an_action_is_pending(client, droplet, supported):
    assert post(client, droplet, type="power_off").status_code == 201

    assert client.delete(f"/v2/droplets/{droplet}").status_code == 204


@pytest.mark.parametrize("type_,status", [("power_on", "active"), ("shutdown", "off")])
def test_power_action_already_in_effect_is_still_201(
    client, db, droplet, supported, type_, status
):
    # Ansible sends power_on to an active droplet and Terraform shutdown to
    # an off one; the engine completes such actions at once (notes §3).
    set_status(db, droplet, status)

    assert post(client, droplet, type=type_).status_code == 201


def tag_droplets(client, names: list[str], tag: str) -> list[int]:
    return [
        create(client, name=name, tags=[tag]).json()["droplet"]["id"] for name in names
    ]


def test_action_by_tag_gives_one_action_per_tagged_droplet(
    client, db, settings, base_image, supported
):
    tagged = tag_droplets(client, ["t1", "t2"], "env:prod")
    create(client, name="untagged")
    settle(db, settings)

    response = client.post(
        "/v2/droplets/actions",
        params={"tag_name": "env:prod"},
        json={"type": "power_off"},
    )

    assert response.status_code == 201, response.text
    recorded = response.json()["actions"]
    assert sorted(a["resource_id"] for a in recorded) == tagged
    assert {a["type"] for a in recorded} == {"power_off"}


def test_action_by_tag_refuses_types_the_spec_keeps_per_droplet(
    client, db, settings, base_image, supported
):
    tag_droplets(client, ["t1"], "web")
    settle(db, settings)

    response = client.post("/v2/droplets/actions?tag_name=web", json={"type": "reboot"})

    assert_error(response, 422, "unprocessable_entity")


def test_action_by_tag_records_nothing_if_one_droplet_is_busy(
    client, db, settings, base_image, supported
):
    first, second = tag_droplets(client, ["t1", "t2"], "web")
    settle(db, settings)
    assert post(client, second, type="power_off").status_code == 201

    response = client.post(
        "/v2/droplets/actions?tag_name=web", json={"type": "power_off"}
    )

    assert_error(response, 422, "unprocessable_entity")
    assert types_of(client, first) == ["create"]


def test_action_by_tag_needs_an_existing_tag(client, supported):
    unknown = client.post(
        "/v2/droplets/actions?tag_name=nope", json={"type": "power_on"}
    )
    missing = client.post("/v2/droplets/actions", json={"type": "power_on"})

    assert_error(unknown, 404, "not_found")
    assert_error(missing, 422, "unprocessable_entity")


def test_action_by_tag_of_unsupported_type_is_422(client, db, settings, base_image):
    tag_droplets(client, ["t1"], "web")
    settle(db, settings)

    response = client.post(
        "/v2/droplets/actions?tag_name=web", json={"type": "power_on"}
    )

    assert_error(response, 422, "unprocessable_entity")
    assert "not supported by Shoal yet" in response.json()["message"]


def test_B24_overlapping_requests_record_exactly_one_action(
    live, token, db, settings, monkeypatch
):
    """Requests truly in flight together, over HTTP: one wins, the rest get
    the pending-event 422, none a 500."""
    import concurrent.futures

    import httpx

    monkeypatch.setattr(actions, "SUPPORTED", {"power_off"})
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=live, headers=headers) as http:
        body = {**BODY_FOR_LIVE, "name": "race"}
        droplet_id = http.post("/v2/droplets", json=body).json()["droplet"]["id"]
    settle(db, settings)

    def power_off(_):
        with httpx.Client(base_url=live, headers=headers) as http:
            return http.post(
                f"/v2/droplets/{droplet_id}/actions", json={"type": "power_off"}
            )

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(power_off, range(8)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [422] * 7, [r.text for r in responses]
    with db.transaction() as session:
        recorded = actions.list_actions(session, 0, 20, droplet_id)[0]
        assert sorted(a.type for a in recorded) == ["create", "power_off"]
