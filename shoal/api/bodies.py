"""JSON bodies, rendered straight to bytes.

Every route answers with a plain dict of JSON types (``shoal.api.views``
builds them). FastAPI would walk such a dict once more through
``jsonable_encoder`` before encoding it; for a page of 200 droplets that
walk was most of the request's time, so routes hand their dict to
``JSONBody`` instead, which encodes it once with orjson.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
