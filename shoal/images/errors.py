"""Errors the image builders, the fetcher and the importer raise.

    ImageError                  base of everything below
     +-- UnknownImage           no recipe (or catalogue entry) for the slug
     +-- HostToolMissing        a host program the build runs is not installed
     +-- ImageBuildError        a build step failed; the cache is left untouched
     |    +-- BootLayoutError   boot.img or core.img do not fit the disk layout
     +-- CatalogueError         a distribution catalogue file is malformed
     +-- FetchError             a download failed; no partial file is kept
     |    +-- ChecksumMismatch  the file is not the one the catalogue names
     |    +-- DownloadStalled   no byte arrived for the stall timeout
     +-- ImageRejected          the file is not a disk Shoal will let QEMU open
          +-- UnsupportedFormat not raw, qcow2, vmdk, vdi or vhdx; or no disk
          +-- UnsafeImage       names a backing file, data file or extent
          +-- ImageTooLarge     over a download, decompressed or virtual limit
          +-- CorruptImage      qemu-img finds it damaged, or truncated

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


class CatalogueError(ImageError):
    """A distribution catalogue file cannot be read as one."""


class FetchError(ImageError):
    """A download failed; what it had written is gone."""


class ChecksumMismatch(FetchError):
    """The downloaded file's digest is not the one the catalogue gives."""


class DownloadStalled(FetchError):
    """The server sent nothing for the stall timeout, retries included."""


class ImageRejected(ImageError):
    """The file is not a disk image Shoal will hand to QEMU.

    Its message is shown to the user as the image's ``error_message``, so it
    names no host path.
    """


class UnsupportedFormat(ImageRejected):
    """Not one of the formats DigitalOcean accepts, or not a bootable disk."""


class UnsafeImage(ImageRejected):
    """The image would make QEMU open another file (a guest could read it)."""


class ImageTooLarge(ImageRejected):
    """Over the download, decompressed or virtual size limit."""


class CorruptImage(ImageRejected):
    """qemu-img cannot read the image whole: damaged or truncated."""
