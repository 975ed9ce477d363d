"""Request bodies, as DigitalOcean's spec and its real clients shape them.

Unknown keys are ignored (Ansible posts all of its module's parameters) and
the empty values that godo and python-digitalocean send for "not given"
(``"region": ""``, ``"region": []``, ``"ssh_keys": null``) mean not given.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shoal.control.droplets import NAME_MAX, NAME_PATTERN

DropletName = Annotated[
    str, StringConstraints(max_length=NAME_MAX, pattern=NAME_PATTERN.pattern)
]

USER_DATA_LIMIT = 64 * 1024


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class DropletCreate(Lenient):
    name: DropletName | None = None
    names: Annotated[list[DropletName], Field(min_length=1, max_length=10)] | None = (
        None
    )
    size: str | int
    image: str | int
    region: Any = None
    ssh_keys: list[str | int] | None = None
    user_data: str | None = None
    tags: list[str] | None = None

    @field_validator("region")
    @classmethod
    def _region(cls, value: Any) -> str | None:
        if value in (None, "", []):
            return None
        if not isinstance(value, str):
            raise ValueError("region must be a region slug")
        return value

    @field_validator("user_data")
    @classmethod
    def _user_data(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) > USER_DATA_LIMIT:
            raise ValueError("user_data is limited to 64 KiB")
        return value

    def all_names(self) -> list[str]:
        if (self.name is None) == (self.names is None):
            raise ValueError("give either name or names")
        return [self.name] if self.name is not None else list(self.names)


class SSHKeyCreate(Lenient):
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    public_key: str


class SSHKeyUpdate(Lenient):
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None


class BackupPolicy(Lenient):
    plan: Literal["daily", "weekly"] | None = None
    weekday: Literal["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] | None = None
    hour: Literal[0, 4, 8, 12, 16, 20] | None = None


class DropletAction(Lenient):
    """Every type's fields in one body; which ones a type needs is control's."""

    type: str
    size: str | None = None
    disk: bool | None = None
    image: str | int | None = None
    name: str | None = None
    kernel: int | None = None
    backup_policy: BackupPolicy | None = None


class TagCreate(Lenient):
    name: str


class TaggedResource(Lenient):
    resource_id: str | int
    resource_type: str


class TagResources(Lenient):
    resources: list[TaggedResource]


class ImageUpdate(Lenient):
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    description: Annotated[str, StringConstraints(max_length=1024)] | None = None
    distribution: str | None = None


class CustomImageCreate(Lenient):
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    url: Annotated[str, StringConstraints(min_length=1)]
    region: Any = None
    distribution: str | None = None
    description: Annotated[str, StringConstraints(max_length=1024)] | None = None
    tags: list[str] | None = None

    @field_validator("region")
    @classmethod
    def _region(cls, value: Any) -> str | None:
        return _region_slug(value)


class ImageAction(Lenient):
    type: str
    region: Any = None

    @field_validator("region")
    @classmethod
    def _region(cls, value: Any) -> str | None:
        return _region_slug(value)


def _region_slug(value: Any) -> str | None:
    # As for droplets: "" and [] are the clients' ways of saying none.
    if value in (None, "", []):
        return None
    if not isinstance(value, str):
        raise ValueError("region must be a region slug")
    return value
