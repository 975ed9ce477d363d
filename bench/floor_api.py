"""The framework alone: FastAPI on uvicorn as ``shoal serve`` runs them,
answering the two benchmarked paths with bodies Shoal rendered, taken once.

No database, no authentication, no rendering: what is left is the cost of
the HTTP server and the router, the floor under any FastAPI app here.

    python -m bench.floor_api PORT DROPLET_JSON LIST_JSON
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Response


def create_app(droplet: bytes, page: bytes) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/v2/droplets/{droplet_id}")
    async def get_droplet(droplet_id: int) -> Response:
        return Response(droplet, media_type="application/json")

    @app.get("/v2/droplets")
    async def list_droplets(per_page: int = 20) -> Response:
        return Response(page, media_type="application/json")

    return app


def main(argv: list[str]) -> int:
    port, droplet, page = int(argv[0]), Path(argv[1]), Path(argv[2])
    app = create_app(droplet.read_bytes(), page.read_bytes())
    # The same uvicorn settings cmd_serve uses for the API.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None)
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
