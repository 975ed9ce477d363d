"""Bearer tokens, and the one session per request that carries the work."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from shoal.control.tokens import authenticate, digest

READ_METHODS = {"GET", "HEAD", "OPTIONS"}


async def db_session(request: Request) -> AsyncIterator[Session]:
    """The request's transaction; committed before the response leaves.

    Opened and committed on the event loop: a plain `def` dependency would be
    entered and left in worker threads, two hops per request, and a request
    waiting there for a pooled connection held a thread that the requests
    owning connections needed to finish (64 concurrent clients stalled the
    API until the pool's timeout). The commit does not wait for SQLite's
    write lock: a request that writes took it in its route, in a thread.
    """
    services = request.app.state.services
    with services.db.transaction() as session:
        yield session
    if session.info.get("wake_engine"):
        services.wake_engine()


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def authorized(
    request: Request, session: Session = Depends(db_session, scope="function")
):
    # On the event loop, not a worker thread: one indexed read of the token
    # (in WAL mode SQLite never makes a reader wait for a writer).
    scope = "read" if request.method in READ_METHODS else "write"
    plain = bearer_token(request)
    token = authenticate(session, plain, scope)
    # From now on the rate limiter counts this token's requests as its own.
    request.state.token_digest = digest(plain)
    return token


Db = Depends(db_session, scope="function")
Auth = Depends(authorized, scope="function")
