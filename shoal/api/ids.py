"""Integer ids in paths.

Paths take ids as strings, so that ``/v2/droplets/abc`` gets DigitalOcean's
404 body rather than a validation error about a path parameter.
"""

from __future__ import annotations

from shoal.control.errors import NotFound
from shoal.control.ids import as_id


def path_id(value: str) -> int:
    number = as_id(value)
    if number is None:
        raise NotFound("The resource you were accessing could not be found.")
    return number
