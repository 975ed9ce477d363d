"""Errors the image builders raise.

    ImageError                  base of everything below
     +-- UnknownImage           no recipe for the requested slug
     +-- HostToolMissing        a host program the build runs is not installed
     +-- ImageBuildError        a build step failed; the cache is left untouched
          +-- BootLayoutError   boot.img or core.img do not fit the disk layout

``control/`` translates these into its own errors where a request needs an
image; nothing here knows about HTTP.
"""

from __future__ import annotations


class ImageError(Exception):
    """Base of every error the image builders raise."""


class UnknownImage(ImageError, LookupError):
    """No recipe exists for the requested slug."""


class HostToolMissing(ImageError):
    """A program the build runs on the host is not installed."""


class ImageBuildError(ImageError):
    """A build step failed; the half-built files were thrown away."""


class BootLayoutError(ImageBuildError):
    """GRUB's boot.img or core.img do not fit the disk layout we write."""
