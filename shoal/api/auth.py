"""Bearer tokens, and the one session per request that carries the work."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from shoal.control.tokens import authenticate, digest

READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def db_session(request: Request) -> Iterator[Session]:
    """The request's transaction; committed before the response leaves."""
    services = request.app.state.services
    with services.db.transaction() as session:
        yield session
    if session.info.get("wake_engine"):
        services.wake_engine()


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def authorized(
    request: Request, session: Session = Depends(db_session, scope="function")
):
    scope = "read" if request.method in READ_METHODS else "write"
    plain = bearer_token(request)
    token = authenticate(session, plain, scope)
    # From now on the rate limiter counts this token's requests as its own.
    request.state.token_digest = digest(plain)
    return token


Db = Depends(db_session, scope="function")
Auth = Depends(authorized, scope="function")
