"""Rate limits as HTTP: whose budget a request spends, and the headers.

A request spends its token's budget once that token has authenticated in
this process; before that, and without a token, it spends its address's,
so inventing tokens buys no fresh budget.
"""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import MutableHeaders

from shoal.api.auth import bearer_token
from shoal.control.ratelimit import RateLimiter, Verdict
from shoal.control.tokens import digest


class CallerLimits:
    def __init__(self, limiter: RateLimiter):
        self.limiter = limiter
        self._known_tokens: set[str] = set()

    def charge(self, request: Request) -> Verdict:
        return self.limiter.charge(self._key(request))

    def learn(self, request: Request) -> None:
        """Remember the token that this request authenticated with."""
        token_digest = getattr(request.state, "token_digest", None)
        if token_digest:
            self._known_tokens.add(token_digest)

    def _key(self, request: Request) -> str:
        plain = bearer_token(request)
        if plain:
            token_digest = digest(plain)
            if token_digest in self._known_tokens:
                return f"token:{token_digest}"
        address = request.client.host if request.client else "unknown"
        return f"address:{address}"


def stamp(headers: MutableHeaders, verdict: Verdict) -> None:
    headers["ratelimit-limit"] = str(verdict.limit)
    headers["ratelimit-remaining"] = str(verdict.remaining)
    headers["ratelimit-reset"] = str(verdict.reset)
    if not verdict.allowed:
        headers["retry-after"] = str(verdict.retry_after)
