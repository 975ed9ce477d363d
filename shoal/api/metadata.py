"""The metadata service at 169.254.169.254, as DigitalOcean's droplets see it.

Who is asking is decided on the host, per TCP connection, never from an
address the guest picked:

1. The listener keeps the link-layer header of each connection's SYN
   (`TCP_SAVE_SYN`); `LinkProtocol` reads its source MAC when the connection
   is accepted and hands it to every request on that connection.
2. The network filter on each droplet's bridge port drops frames whose
   source MAC is not the droplet's own (`shoal.hypervisor.nwfilter`), so
   that MAC names the port, and the port names the droplet.
3. The host's neighbour entry for the peer address must name the same MAC,
   or the answer could leave by another port; on disagreement, 404.

The host itself (over loopback), unknown MACs and deleted droplets get 404.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from uvicorn.protocols.http.h11_impl import H11Protocol

from shoal.control import metadata
from shoal.control.metadata import MetadataSource

log = logging.getLogger(__name__)

# The caller's MAC, decided on the host; None for a caller no droplet can be.
Identify = Callable[[Request], str | None]

LINK_EXTENSION = "shoal.link"


def link_protocol(
    read_mac: Callable[[socket.socket], str | None],
) -> type[H11Protocol]:
    """A uvicorn HTTP protocol that tags each request with its connection's
    link-layer source, as `read_mac` reads it off the accepted socket."""

    class LinkProtocol(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            try:
                mac = read_mac(transport.get_extra_info("socket"))
            except OSError as exc:
                log.warning("saved syn unreadable client=%s error=%s", self.client, exc)
                mac = None
            self.app = _with_link(self.app, mac)

    return LinkProtocol


def _with_link(app, mac: str | None):
    async def tagged(scope, receive, send):
        extensions = {**scope.get("extensions", {}), LINK_EXTENSION: {"mac": mac}}
        await app({**scope, "extensions": extensions}, receive, send)

    return tagged


def link_identity(neighbour_mac: Callable[[str], str | None]) -> Identify:
    """Identify by the connection's link source, confirmed by the host's
    neighbour entry for the peer (`neighbour_mac(ip)`)."""

    def identify(request: Request) -> str | None:
        link = request.scope.get("extensions", {}).get(LINK_EXTENSION, {})
        mac = link.get("mac")
        if mac is None or request.client is None:
            return None

        neighbour = neighbour_mac(request.client.host)
        if neighbour != mac:
            log.warning(
                "metadata caller's link and neighbour differ mac=%s neighbour=%s",
                mac,
                neighbour,
            )
            return None
        return mac

    return identify


def create_metadata_app(source: MetadataSource, identify: Identify) -> FastAPI:
    # Only the folders of the tree redirect, as DigitalOcean's do.
    app = FastAPI(
        docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False
    )

    def document(request: Request) -> dict | None:
        mac = identify(request)
        doc = source.document_for_mac(mac) if mac else None
        log.info(
            "metadata %s mac=%s droplet_id=%s",
            request.url.path,
            mac,
            doc["droplet_id"] if doc else None,
        )
        return doc

    @app.get("/metadata/v1.json")
    def v1_json(request: Request):
        doc = document(request)
        if doc is None:
            return JSONResponse({"id": "not_found", "message": "not found"}, 404)
        return Response(json.dumps(doc), media_type="application/json")

    @app.get("/metadata/v1")
    def v1_index_without_slash(request: Request):
        if document(request) is None:
            return _not_found()
        return RedirectResponse("/metadata/v1/", status_code=301)

    @app.get("/metadata/v1/{path:path}")
    def v1_tree(path: str, request: Request):
        doc = document(request)
        node = metadata.lookup(metadata.tree(doc), path) if doc else None
        if node is None:
            return _not_found()

        if isinstance(node, str):
            # A leaf is a file: asked for as a folder, it is not there.
            return _not_found() if path.endswith("/") else PlainTextResponse(node)
        if path and not path.endswith("/"):
            return RedirectResponse(request.url.path + "/", status_code=301)
        return PlainTextResponse(metadata.listing(node))

    return app


def _not_found() -> PlainTextResponse:
    return PlainTextResponse("not found\n", status_code=404)
