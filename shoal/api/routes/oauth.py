"""/v1/oauth/token/info: the token check of ``doctl auth init``.

doctl asks this of cloud.digitalocean.com, not of the API, unless it is
given ``--token-validation-server``; pointed at Shoal, it gets its answer.
"""

from __future__ import annotations

from shoal.api.auth import Auth
from shoal.api.routing import SlashRouter
from shoal.control.models import Token

router = SlashRouter(prefix="/v1/oauth")

# Shoal's tokens live until revoked; this is what "never" looks like in a
# field of seconds that clients read as a plain integer.
NEVER_EXPIRES_SECONDS = 10 * 365 * 24 * 3600


@router.get("/token/info")
def token_info(token: Token = Auth):
    return {
        "resource_owner_id": token.id,
        "scopes": token.scopes.split(),
        "expires_in_seconds": NEVER_EXPIRES_SECONDS,
        "application": {"uid": ""},
        "created_at": int(token.created_at.timestamp()),
    }
