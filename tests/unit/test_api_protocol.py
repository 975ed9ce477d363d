"""Rules every response keeps: error bodies, headers, doctl's token check,
and that the judge of the other tests is itself at work."""

from __future__ import annotations

import httpx
import pytest

from tests.unit import do_spec
from tests.unit.test_api_droplets import assert_error


def test_B01_unexpected_error_is_a_digitalocean_500_with_headers(client):
    def explode():
        raise RuntimeError("boom")

    client.app.add_api_route("/v2/explode", explode)

    response = client.get("/v2/explode")

    assert_error(response, 500, "server_error")
    assert "boom" not in response.text
    assert "ratelimit-remaining" in response.headers


def test_B01_wrong_method_and_unknown_path_carry_the_same_headers(client):
    for response in (client.patch("/v2/droplets"), client.get("/v2/nothing")):
        assert response.status_code in (404, 405), response.text
        assert "ratelimit-limit" in response.headers
        assert response.headers["x-request-id"] == response.json()["request_id"]


@pytest.mark.parametrize(
    "path",
    [
        "/v2/droplets/²",
        "/v2/droplets/99999999999999999999999",
        "/v2/droplets/0/kernels",
        "/v2/actions/²",
        "/v2/actions/99999999999999999999999",
        "/v2/images/²",
        "/v2/images/99999999999999999999999",
        "/v2/account/keys/²",
        "/v2/account/keys/99999999999999999999999",
    ],
)
def test_ids_that_are_not_plain_integers_are_404_not_500(client, path):
    # Found by the fuzzer: "²".isdigit() is true and int("²") fails.
    assert_error(client.get(path), 404, "not_found")


def test_doctl_token_validation_endpoint(client, db):
    response = client.get("/v1/oauth/token/info")

    assert response.status_code == 200, response.text
    info = response.json()
    assert isinstance(info["resource_owner_id"], int)
    assert info["scopes"] == ["read", "write"]
    assert info["expires_in_seconds"] > 0
    assert info["application"] == {"uid": ""}
    assert isinstance(info["created_at"], int)


def test_doctl_token_validation_refuses_a_bad_token(client):
    client.headers["Authorization"] = "Bearer dop_v1_nope"

    assert_error(client.get("/v1/oauth/token/info"), 401, "unauthorized")


def test_spec_conformance_is_checked():
    """The spec the other tests are judged by is here, or the run says not."""
    spec = do_spec.load_spec()
    if spec is None:
        pytest.skip(
            f"DigitalOcean's OpenAPI spec not found at {do_spec.SPEC_PATH}; "
            "responses are checked for Shoal's own rules only"
        )

    template, _ = spec.operation("GET", "/v2/droplets/7/")
    assert template == "/v2/droplets/{droplet_id}"
    assert spec.operation("POST", "/v2/droplets/actions")[0] == "/v2/droplets/actions"
    assert isinstance(spec.validator("/v2/droplets", "get", 201), str)


def test_spec_judge_rejects_a_droplet_without_networks(client, base_image):
    spec = do_spec.load_spec()
    if spec is None:
        pytest.skip(f"DigitalOcean's OpenAPI spec not found at {do_spec.SPEC_PATH}")
    response = client.post(
        "/v2/droplets",
        json={"name": "x", "size": "s-1vcpu-1gb", "image": "debian-12-x64"},
    )
    broken = response.json()
    del broken["droplet"]["networks"]

    problems = do_spec.check_spec(
        spec, httpx.Response(202, json=broken, request=response.request)
    )

    assert any("networks" in p for p in problems), problems


def test_64_clients_at_once_are_all_answered_without_a_stall(live, token, base_image):
    # Before: each request entered its database session and its token check
    # in worker threads; requests waiting there for a pooled connection took
    # every thread, those holding connections could not finish, and the API
    # stood still until the pool's 30 s timeout.
    from concurrent.futures import ThreadPoolExecutor

    def three_gets(_):
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=live, headers=headers, timeout=20) as api:
            return [api.get("/v2/droplets").status_code for _ in range(3)]

    with ThreadPoolExecutor(64) as pool:
        codes = [code for got in pool.map(three_gets, range(64)) for code in got]
    assert codes == [200] * 192
