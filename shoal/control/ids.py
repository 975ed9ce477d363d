"""Integer ids as clients send them: JSON numbers, or strings of digits.

Only ASCII digits count. ``str.isdigit`` also accepts ``²`` and other
digits that ``int`` refuses, which once made a path such as
``/v2/droplets/²`` a 500.
"""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]+")

# Ids are SQL integers; a longer number names nothing and must not reach
# the database as an out-of-range parameter.
MAX_ID = 2**63 - 1


def as_id(value: str | int) -> int | None:
    """The id a value names, or None if it is not a positive integer."""
    text = str(value)
    if not _DIGITS.fullmatch(text):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ID else None
