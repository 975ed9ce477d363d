"""Who is asking the metadata service is decided on the host: the source MAC
of the SYN that opened the connection, confirmed by the host's neighbour
table; never an address the guest chose."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from starlette.requests import Request

from shoal.api.metadata import (
    LINK_EXTENSION,
    create_metadata_app,
    link_identity,
    link_protocol,
)
from shoal.control.addresses import mac_for
from shoal.control.metadata import MetadataSource
from shoal.hypervisor import hostnet
from tests.unit.test_metadata import make_droplet

PEER = "169.254.7.9"


def request_from(mac: str | None, host: str = PEER) -> Request:
    scope = {
        "type": "http",
        "client": (host, 4321),
        "extensions": {LINK_EXTENSION: {"mac": mac}},
    }
    return Request(scope)


def test_caller_is_the_mac_its_syn_came_from_when_the_neighbour_agrees():
    identify = link_identity({PEER: "52:54:00:00:00:07"}.get)

    assert identify(request_from("52:54:00:00:00:07")) == "52:54:00:00:00:07"


def test_caller_whose_neighbour_entry_names_another_mac_is_nobody():
    # Another guest answered ARP for this address: the reply would leave by
    # that guest's port, so nobody is served.
    identify = link_identity({PEER: "52:54:00:00:00:08"}.get)

    assert identify(request_from("52:54:00:00:00:07")) is None


def test_caller_without_a_link_source_is_nobody():
    identify = link_identity({PEER: "52:54:00:00:00:07"}.get)

    assert identify(request_from(None)) is None
    assert identify(Request({"type": "http", "client": (PEER, 1)})) is None


@contextmanager
def serve_metadata(app, read_mac) -> Iterator[str]:
    """The metadata app on loopback with the link-aware protocol, in a thread."""
    sock = hostnet.device_socket("lo", "127.0.0.1", 0)
    config = uvicorn.Config(app, http=link_protocol(read_mac), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started, "the metadata server did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def alpha(db, settings, base_image) -> int:
    return make_droplet(db, settings, "alpha", 2, "#!/bin/sh\n")


def test_the_host_asking_over_loopback_gets_404(db, settings, alpha):
    # Every droplet's MAC is in the neighbour table: only the link decides.
    identify = link_identity(lambda ip: mac_for(alpha))
    app = create_metadata_app(MetadataSource(db, settings), identify)

    with serve_metadata(app, hostnet.syn_source_mac) as url:
        for path in ("/metadata/v1.json", "/metadata/v1/", "/metadata/v1/id"):
            response = httpx.get(url + path)
            assert response.status_code == 404, response.text


def test_the_connections_link_source_reaches_the_request(db, settings, alpha):
    seen: list[bytes] = []

    def read_mac(sock) -> str:
        # The saved SYN is really there on an accepted connection.
        seen.append(sock.getsockopt(socket.IPPROTO_TCP, hostnet.TCP_SAVED_SYN, 512))
        return mac_for(alpha)

    identify = link_identity(lambda ip: mac_for(alpha) if ip == "127.0.0.1" else None)
    app = create_metadata_app(MetadataSource(db, settings), identify)

    with serve_metadata(app, read_mac) as url, httpx.Client() as client:
        first = client.get(url + "/metadata/v1/id")
        second = client.get(url + "/metadata/v1/hostname")

    assert (first.text, second.text) == (str(alpha), "alpha")
    # One connection, one SYN: read once when it was accepted.
    assert len(seen) == 1
    assert hostnet.link_source_mac(seen[0]) is None  # loopback's MAC is zero
    assert seen[0][12:14] == b"\x08\x00"
