"""The database: what Shoal has promised, in DigitalOcean's words."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    foreign,
    mapped_column,
    relationship,
)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Base(DeclarativeBase):
    # AUTOINCREMENT on SQLite: an id is never handed out twice, because it is
    # the guest's instance-id and a reused one would look like the same machine.
    __table_args__ = {"sqlite_autoincrement": True}


droplet_tags = Table(
    "droplet_tags",
    Base.metadata,
    Column(
        "droplet_id", ForeignKey("droplets.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("tag_name", ForeignKey("tags.name", ondelete="CASCADE"), primary_key=True),
    # With microseconds: a tag's last_tagged_uri names the newest droplet.
    Column("tagged_at", DateTime(timezone=True), default=lambda: datetime.now(UTC)),
)

image_tags = Table(
    "image_tags",
    Base.metadata,
    Column("image_id", ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_name", ForeignKey("tags.name", ondelete="CASCADE"), primary_key=True),
)


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(255), default="read write")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SSHKey(Base):
    __tablename__ = "ssh_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)


class Image(Base):
    __tablename__ = "images"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str | None] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    distribution: Mapped[str] = mapped_column(String(64), default="Unknown")
    type: Mapped[str] = mapped_column(String(16), default="base")
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="available")
    description: Mapped[str] = mapped_column(Text, default="")
    path: Mapped[str] = mapped_column(Text)
    min_disk_size: Mapped[int] = mapped_column(Integer, default=0)
    size_gigabytes: Mapped[float] = mapped_column(Float, default=0.0)
    error_message: Mapped[str] = mapped_column(Text, default="")
    # The droplet a snapshot or backup was taken from. No foreign key: the
    # image outlives the droplet.
    droplet_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # The image's cloud-init reads only the metadata service (its
    # datasource_list has no NoCloud): its droplets get no seed ISO.
    metadata_service_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )
    # Set by DELETE. The status says "deleted" from then on, and the file
    # stays until no droplet's disk is backed by it. A failed import also
    # reads "deleted" (with its error_message), as on DigitalOcean, but
    # stays visible by id until someone deletes it.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    tags: Mapped[list[Tag]] = relationship(secondary=image_tags, lazy="selectin")


class Tag(Base):
    __tablename__ = "tags"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)


class Droplet(Base):
    __tablename__ = "droplets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(16), default="new")
    size_slug: Mapped[str] = mapped_column(String(64))
    region_slug: Mapped[str] = mapped_column(String(64))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"))
    memory: Mapped[int] = mapped_column(Integer)
    vcpus: Mapped[int] = mapped_column(Integer)
    disk: Mapped[int] = mapped_column(Integer)
    user_data: Mapped[str | None] = mapped_column(Text)
    public_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    ipv4: Mapped[str | None] = mapped_column(String(15), unique=True)
    mac: Mapped[str | None] = mapped_column(String(17), unique=True)
    host: Mapped[str | None] = mapped_column(String(255))
    # Backups: the policy (plan, weekday, hour) is kept while they are off.
    backups_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    backup_policy: Mapped[dict | None] = mapped_column(JSON)
    next_backup_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The root password's crypt(3) hash from the last password_reset; the
    # seed carries it so the guest applies it at its next boot.
    root_password_hash: Mapped[str | None] = mapped_column(String(255))
    # Set by DELETE: from then on the API answers 404 while the engine tears
    # the machine down; the row goes once nothing of it is left.
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )

    image: Mapped[Image] = relationship(lazy="joined")
    tags: Mapped[list[Tag]] = relationship(secondary=droplet_tags, lazy="selectin")
    taken_images: Mapped[list[Image]] = relationship(
        primaryjoin=lambda: foreign(Image.droplet_id) == Droplet.id,
        viewonly=True,
        lazy="selectin",
        order_by=lambda: Image.id,
    )


# The actions that hold a droplet: in progress, and not its destroy.
PENDING_CLAUSE = "status = 'in-progress' AND type != 'destroy'"


class Action(Base):
    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="in-progress", index=True)
    resource_id: Mapped[int | None] = mapped_column(Integer, index=True)
    resource_type: Mapped[str] = mapped_column(String(32), default="droplet")
    region_slug: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # One pending action per droplet, kept by the database so that two
    # requests racing past the API's check cannot both record one (B24).
    # A destroy may join a running create: DELETE is always accepted.
    __table_args__ = (
        Index(
            "uq_actions_one_pending",
            "resource_type",
            "resource_id",
            unique=True,
            sqlite_where=text(PENDING_CLAUSE),
            postgresql_where=text(PENDING_CLAUSE),
        ),
        Base.__table_args__,
    )
