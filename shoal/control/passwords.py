"""password_reset: a new random root password, set in the guest at its next
boot, and given to the operator in a file (DigitalOcean emails it).

The password itself goes only to `state_dir/passwords/droplet-N` (mode 0600,
directory 0700). The guest gets its SHA-512 crypt hash, through a bootcmd in
the seed's vendor-data that sets it once (`cloudinit.password_bootcmd`); the
droplet keeps the hash, so a later seed (rename, rebuild) carries it too.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import subprocess
from pathlib import Path

from shoal.control.action_context import ActionContext, ActionFailed
from shoal.control.models import Action
from shoal.control.undo import UndoStack

log = logging.getLogger(__name__)

PASSWORD_BYTES = 12


def password_reset(ctx: ActionContext, action: Action) -> None:
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    old = ctx.machine(action.resource_id)
    new = dataclasses.replace(old, root_password_hash=crypt_sha512(password))
    path = password_file(ctx.settings.password_dir, old.droplet_id)
    undo = UndoStack(f"droplet_id={old.droplet_id} domain={old.domain}")

    try:
        if not ctx.provisioner.replace_seed(new):
            raise ActionFailed("The droplet has no seed to carry a new password.")
        undo.push("seed", lambda: ctx.provisioner.replace_seed(old))
        previous = _read(path)
        write_password(path, password)
        undo.push("file", lambda: _restore(path, previous))
        ctx.complete(action, root_password_hash=new.root_password_hash)
    except BaseException:
        undo.unwind()
        raise

    # Never the password, nor its hash.
    log.info(
        "root password reset droplet_id=%s file=%s applied=next-boot",
        old.droplet_id,
        path,
    )


def crypt_sha512(password: str) -> str:
    """The password's `$6$` crypt(3) hash, by openssl (the password goes
    through a pipe, never onto a command line)."""
    try:
        done = subprocess.run(
            ["openssl", "passwd", "-6", "-stdin"],
            input=password,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ActionFailed(f"hashing the password failed: {exc}") from exc
    return done.stdout.strip()


def password_file(directory: Path, droplet_id: int) -> Path:
    return directory / f"droplet-{droplet_id}"


def write_password(path: Path, password: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    path.chmod(0o600)


def _read(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def _restore(path: Path, previous: str | None) -> None:
    if previous is None:
        path.unlink(missing_ok=True)
    else:
        write_password(path, previous)
