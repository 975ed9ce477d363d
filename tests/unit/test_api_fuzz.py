"""Property-based fuzzing of Shoal's own OpenAPI description (schemathesis).

Whatever the generated request, Shoal answers without a 5xx, and every
error is DigitalOcean's JSON body, never FastAPI's ``detail`` or text.

CI runs a fixed set of examples (``derandomize``), so that a red run is a
change in Shoal, not a luckier draw; elsewhere each run draws anew. The
operations are driven one by one with Hypothesis here rather than
through ``schemathesis.pytest.from_fixture``, whose lazy loader reads a
pytest internal that pytest 9 no longer has.
"""

from __future__ import annotations

import os

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from shoal.api.app import Services, create_app  # noqa: E402

EXAMPLES_PER_OPERATION = 15


@pytest.fixture
def shoal_schema(settings, db, base_image):
    # Fuzzing sends far more than DigitalOcean's 250 requests a minute.
    settings.rate_limit_per_minute = 10**6
    settings.rate_limit_per_hour = 10**6
    app = create_app(Services(settings=settings, db=db))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def assert_digitalocean_error(response) -> None:
    if response.status_code < 400:
        return
    body = response.json()
    assert isinstance(body, dict), response.text
    assert body.get("id") and body.get("message"), response.text
    assert "detail" not in body, response.text


def fuzz(operation, token: str) -> None:
    @given(case=operation.as_strategy())
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=bool(os.environ.get("CI")),
    )
    def one(case):
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        case.validate_response(response, checks=[not_a_server_error])
        assert_digitalocean_error(response)

    one()


def test_no_request_gets_a_5xx_or_a_foreign_error_body(shoal_schema, token):
    operations = [result.ok() for result in shoal_schema.get_all_operations()]
    assert len(operations) > 30, "Shoal's OpenAPI lists fewer operations than it has"

    for operation in operations:
        fuzz(operation, token)
