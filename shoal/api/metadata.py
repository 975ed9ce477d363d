"""The metadata service at 169.254.169.254, as DigitalOcean's droplets see it.

Who is asking is decided on the host side: the caller's source address is
looked up in the kernel's neighbour table of the droplet bridge, which
gives the MAC of the interface the request came from; the MAC names the
droplet. A caller that no droplet owns gets 404.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from shoal.control.metadata import MetadataSource

Resolver = Callable[[str], str | None]


def _neighbour_mac(bridge: str) -> Resolver:
    def resolve(address: str) -> str | None:
        with open("/proc/net/arp") as table:
            next(table)
            for line in table:
                fields = line.split()
                if (
                    fields[0] == address
                    and fields[5] == bridge
                    and fields[3] != "00:00:00:00:00:00"
                ):
                    return fields[3].lower()
        return None

    return resolve


def create_metadata_app(
    source: MetadataSource, resolver: Resolver | None = None
) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    resolve = resolver or _neighbour_mac(source.bridge)

    def document(request: Request) -> dict | None:
        mac = resolve(request.client.host if request.client else "")
        return source.document_for_mac(mac) if mac else None

    @app.get("/metadata/v1.json")
    def v1_json(request: Request):
        doc = document(request)
        if doc is None:
            return JSONResponse({"id": "not_found", "message": "not found"}, 404)
        return Response(json.dumps(doc), media_type="application/json")

    @app.get("/metadata/v1/{path:path}")
    def tree(path: str, request: Request):
        doc = document(request)
        value = source.lookup(doc, path) if doc is not None else None
        if value is None:
            return PlainTextResponse("not found\n", status_code=404)
        return PlainTextResponse(value)

    return app
