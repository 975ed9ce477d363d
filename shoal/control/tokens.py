"""API tokens: made by the CLI, stored as SHA-256 hashes, checked per request."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoal.control.errors import Forbidden, NotFound, Unauthorized
from shoal.control.models import Token, utcnow

SCOPES = ("read", "write")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, name: str, scopes: tuple[str, ...] = SCOPES) -> str:
    """Store a new token and return its only plain-text copy."""
    unknown = set(scopes) - set(SCOPES)
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")

    # The prefix is DigitalOcean's for personal access tokens, so tools that
    # check a token's shape before sending it accept ours.
    plain = "dop_v1_" + secrets.token_hex(32)
    session.add(Token(name=name, token_hash=digest(plain), scopes=" ".join(scopes)))
    return plain


def authenticate(session: Session, plain: str | None, scope: str) -> Token:
    if not plain:
        raise Unauthorized()

    token = session.scalar(select(Token).where(Token.token_hash == digest(plain)))
    if token is None or token.revoked_at is not None:
        raise Unauthorized()
    if scope not in token.scopes.split():
        raise Forbidden(f"This token has no {scope} scope.")
    return token


def list_tokens(session: Session) -> list[Token]:
    return list(session.scalars(select(Token).order_by(Token.id)))


def revoke_token(session: Session, token_id: int) -> None:
    token = session.get(Token, token_id)
    if token is None:
        raise NotFound(f"No token with id {token_id}.")
    token.revoked_at = utcnow()
