"""SSH keys of the account, addressed by id or by MD5 fingerprint."""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shoal.control.errors import NotFound, Unprocessable
from shoal.control.ids import as_id
from shoal.control.models import SSHKey

KEY_TYPES = {
    "ssh-rsa",
    "ssh-dss",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
}


def fingerprint(public_key: str) -> str:
    """The MD5 fingerprint DigitalOcean shows, or Unprocessable if not a key."""
    parts = public_key.strip().split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise Unprocessable(
            "Key invalid, key should be of the form `type key [comment]`"
        )

    try:
        blob = base64.b64decode(parts[1], validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        embedded_type = blob[4 : 4 + length].decode()
    except (binascii.Error, struct.error, UnicodeDecodeError):
        raise Unprocessable("Key invalid, the key data is not valid base64.") from None
    if embedded_type != parts[0]:
        raise Unprocessable("Key invalid, the key type does not match its data.")

    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, 32, 2))


def create_key(session: Session, name: str, public_key: str) -> SSHKey:
    print_ = fingerprint(public_key)
    if session.scalar(select(SSHKey).where(SSHKey.fingerprint == print_)):
        raise Unprocessable("SSH Key is already in use on your account")

    key = SSHKey(name=name, public_key=public_key.strip(), fingerprint=print_)
    session.add(key)
    session.flush()
    return key


def find_key(session: Session, ref: str | int) -> SSHKey:
    """A key by integer id (also as a digit string) or by fingerprint."""
    key_id = as_id(ref)
    if key_id is not None:
        key = session.get(SSHKey, key_id)
    else:
        fingerprint_ = str(ref).lower()
        key = session.scalar(select(SSHKey).where(SSHKey.fingerprint == fingerprint_))
    if key is None:
        raise NotFound("The resource you were accessing could not be found.")
    return key


def list_keys(session: Session, offset: int, limit: int) -> tuple[list[SSHKey], int]:
    total = session.scalar(select(func.count()).select_from(SSHKey))
    page = session.scalars(
        select(SSHKey).order_by(SSHKey.id).offset(offset).limit(limit)
    )
    return list(page), total


def rename_key(session: Session, ref: str | int, name: str) -> SSHKey:
    key = find_key(session, ref)
    key.name = name
    session.flush()
    return key


def delete_key(session: Session, ref: str | int) -> None:
    # Droplets keep their own copy of the public keys they were built with.
    session.delete(find_key(session, ref))
    session.flush()
