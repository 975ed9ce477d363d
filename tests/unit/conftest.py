"""Every API response the unit tests receive is judged by DigitalOcean's spec."""

from __future__ import annotations

import pytest

from shoal.api.app import Services, create_app
from tests.unit import do_spec, live_server


def pytest_report_header(config):
    if do_spec.load_spec() is None:
        return f"DigitalOcean spec not found at {do_spec.SPEC_PATH}: not validated"
    return f"responses validated against {do_spec.SPEC_PATH}"


@pytest.fixture
def client(client):
    """The shared API client, with every response checked as it arrives."""
    spec = do_spec.load_spec()
    client.event_hooks["response"] = [lambda r: do_spec.check(r, spec)]
    return client


@pytest.fixture
def live(settings, db, base_image):
    """Shoal's API over real HTTP on loopback; yields its base URL. Every
    response it gave is judged once the test is done."""
    recorder = live_server.Recorder(create_app(Services(settings=settings, db=db)))
    with live_server.serve(recorder) as url:
        yield url

    spec = do_spec.load_spec()
    for response in recorder.seen:
        do_spec.check(response, spec)
