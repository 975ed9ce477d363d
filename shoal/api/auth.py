"""Bearer tokens, and the one session per request that carries the work."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Depends, Request
from fastapi.concurrency import contextmanager_in_threadpool
from sqlalchemy.orm import Session

from shoal.control.tokens import authenticate, digest

READ_METHODS = {"GET", "HEAD", "OPTIONS"}


async def db_session(request: Request) -> AsyncIterator[Session]:
    """The request's transaction; committed before the response leaves.

    A read's is opened and committed on the event loop: as a plain `def`
    dependency it was entered and left in worker threads, two hops per
    request, and requests waiting there for a pooled connection held the
    threads that the requests owning connections needed to finish (64
    concurrent clients stalled the API until the pool's timeout). A write's
    commit may wait for SQLite's write lock while an engine worker holds it,
    so a write's transaction is entered and left in a worker thread.
    """
    services = request.app.state.services
    transaction = services.db.transaction()
    if request.method in READ_METHODS:
        with transaction as session:
            yield session
    else:
        async with contextmanager_in_threadpool(transaction) as session:
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
