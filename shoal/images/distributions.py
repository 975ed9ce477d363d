"""The catalogue of distribution images: which slug is which upstream file.

The catalogue ships as ``distributions.yaml`` beside this module; an
operator's file of the same shape adds entries or replaces them by slug::

    images:
      - slug: ubuntu-24-04-x64
        name: "24.04 (LTS) x64"
        distribution: Ubuntu
        version: "24.04"
        url: https://cloud-images.ubuntu.com/releases/noble/release-.../...img
        checksum: sha256:<hex>
        min_disk_size: 10
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from shoal.images.errors import CatalogueError, UnknownImage

BUILTIN = Path(__file__).with_name("distributions.yaml")

SLUG = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")
DIGEST_LENGTHS = {"sha256": 64, "sha512": 128}
FIELDS = ("slug", "name", "distribution", "version", "url", "checksum")


@dataclass(frozen=True)
class Distribution:
    slug: str
    name: str
    distribution: str
    version: str
    url: str
    checksum: str
    min_disk_size: int = 0

    @property
    def stored_name(self) -> str:
        """The file name on the host: the same upstream file, the same name."""
        digest = self.checksum.partition(":")[2]
        return f"{self.slug}-{digest[:16]}.qcow2"


def load_catalogue(extra: Path | None = None) -> dict[str, Distribution]:
    """The built-in entries by slug, with those of ``extra`` over them."""
    entries = _read(BUILTIN)
    if extra is not None:
        entries.update(_read(extra))
    return entries


def lookup(catalogue: dict[str, Distribution], slug: str) -> Distribution:
    try:
        return catalogue[slug]
    except KeyError:
        raise UnknownImage(f"no catalogue entry for slug={slug!r}") from None


def _read(path: Path) -> dict[str, Distribution]:
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"cannot read catalogue {path}: {exc}") from exc

    found = {}
    for number, entry in enumerate(document.get("images") or [], start=1):
        distribution = _entry(entry, f"{path} entry {number}")
        found[distribution.slug] = distribution
    return found


def _entry(entry: object, where: str) -> Distribution:
    if not isinstance(entry, dict):
        raise CatalogueError(f"{where}: not a mapping")
    missing = [name for name in FIELDS if not entry.get(name)]
    if missing:
        raise CatalogueError(f"{where}: missing {', '.join(missing)}")

    try:
        min_disk_size = int(entry.get("min_disk_size", 0))
    except (TypeError, ValueError):
        raise CatalogueError(f"{where}: min_disk_size must be a number") from None

    distribution = Distribution(
        **{name: str(entry[name]) for name in FIELDS}, min_disk_size=min_disk_size
    )
    _check(distribution, where)
    return distribution


def _check(distribution: Distribution, where: str) -> None:
    if not SLUG.match(distribution.slug):
        raise CatalogueError(f"{where}: slug {distribution.slug!r} is not a slug")
    if not distribution.url.startswith(("http://", "https://")):
        raise CatalogueError(f"{where}: url must be http or https")

    algorithm, _, digest = distribution.checksum.partition(":")
    length = DIGEST_LENGTHS.get(algorithm)
    if length is None or not re.fullmatch(f"[0-9a-fA-F]{{{length}}}", digest):
        raise CatalogueError(
            f"{where}: checksum must be sha256:<64 hex> or sha512:<128 hex>"
        )
