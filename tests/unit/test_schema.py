"""The migrated schema, as SQLite holds it."""

from __future__ import annotations

from sqlalchemy import text

from shoal.control import droplets
from shoal.control.models import Droplet


def test_ids_are_never_handed_out_twice_after_every_migration(db, settings, base_image):
    # A droplet id is its guest's instance-id: reuse would make a new
    # machine look like an old one to cloud-init.
    with db.engine.connect() as connection:
        tables = dict(
            connection.execute(text("SELECT name, sql FROM sqlite_master")).all()
        )
    for table in ("droplets", "actions", "images"):
        assert "AUTOINCREMENT" in tables[table], tables[table]

    request = droplets.DropletRequest(
        names=["a"], size="s-1vcpu-1gb", image="debian-12-x64"
    )
    with db.transaction() as session:
        ((first, _),) = droplets.create_droplets(session, settings, request)
    with db.transaction() as session:
        session.delete(session.get(Droplet, first.id))
    with db.transaction() as session:
        ((second, _),) = droplets.create_droplets(session, settings, request)

    assert second.id > first.id
