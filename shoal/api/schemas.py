"""Request bodies, as DigitalOcean's spec and its real clients shape them.

Unknown keys are ignored (Ansible posts all of its module's parameters) and
the empty values that godo and python-digitalocean send for "not given"
(``"region": ""``, ``"region": []``, ``"ssh_keys": null``) mean not given.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

# The spec's droplet name: hostname characters, ending in a letter or digit.
DropletName = Annotated[
    str,
    StringConstraints(
        max_length=255, pattern=r"^[a-zA-Z0-9]?[a-z0-9A-Z.\-]*[a-z0-9A-Z]$"
    ),
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
