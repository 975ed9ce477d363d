"""Downloading an image: resumable, bounded, and all or nothing.

The bytes go to a partial file. A dropped connection or a stall is retried
from where it stopped (HTTP Range; a server that ignores Range is read
again from the start). A download that fails for good, stalls for good,
grows past its limit or fails its checksum leaves no file behind. Only an
interrupted process (Ctrl-C, a kill) leaves the partial file, for the next
attempt to resume.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from shoal.images.errors import (
    ChecksumMismatch,
    DownloadStalled,
    FetchError,
    ImageError,
    ImageTooLarge,
)
from shoal.images.limits import ImageLimits

log = logging.getLogger(__name__)

CHUNK = 1 << 20
GiB = 1 << 30
RETRY_PAUSE_SECONDS = 1.0
USER_AGENT = "Shoal image fetcher"

#: Called with (bytes so far, total bytes or None) as the download goes.
Progress = Callable[[int, int | None], None]

ALGORITHMS = ("sha256", "sha512")
SCHEMES = ("http", "https")


class _Retry(Exception):
    """This attempt failed in a way a fresh connection may cure."""


def download(
    url: str,
    target: Path,
    limits: ImageLimits,
    progress: Progress | None = None,
) -> int:
    """Fetch ``url`` into ``target``, resuming what ``target`` holds already.

    Returns the file's size. Raises ``DownloadStalled``, ``FetchError`` or
    ``ImageTooLarge``, having removed ``target``.
    """
    try:
        _check_scheme(url)
        with _client(limits) as client:
            size = _with_retries(client, url, target, limits, progress)
    except ImageError:
        target.unlink(missing_ok=True)
        raise

    log.info("download finished url=%s bytes=%d", url, size)
    return size


def verify(path: Path, checksum: str) -> None:
    """Compare the file's digest with ``algorithm:hex``; remove it if wrong."""
    algorithm, _, expected = checksum.partition(":")
    digest = hashlib.new(algorithm)
    with open(path, "rb") as source:
        while block := source.read(CHUNK):
            digest.update(block)

    if digest.hexdigest() != expected.lower():
        path.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"The download's {algorithm} is {digest.hexdigest()}, "
            f"not {expected.lower()}."
        )


def _check_scheme(url: str) -> None:
    try:
        scheme = httpx.URL(url).scheme
    except httpx.InvalidURL as exc:
        raise FetchError(f"The image URL is not valid: {exc}.") from exc
    if scheme not in SCHEMES:
        raise FetchError("Images are fetched over http or https only.")


def _client(limits: ImageLimits) -> httpx.Client:
    # Every timeout is the stall timeout: it bounds each wait for a byte,
    # not the whole download, which may rightly take an hour.
    return httpx.Client(
        timeout=httpx.Timeout(limits.stall_seconds),
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
    )


def _with_retries(
    client: httpx.Client,
    url: str,
    target: Path,
    limits: ImageLimits,
    progress: Progress | None,
) -> int:
    failure = _Retry("no attempt was made")
    for attempt in range(1, limits.download_retries + 2):
        try:
            return _attempt(client, url, target, limits, progress)
        except _Retry as exc:
            failure = exc
            log.warning(
                "download interrupted url=%s attempt=%d error=%s", url, attempt, exc
            )
            time.sleep(RETRY_PAUSE_SECONDS)

    cause = failure.__cause__ or failure
    if isinstance(cause, httpx.TimeoutException):
        raise DownloadStalled(
            f"The download stalled: nothing arrived for {limits.stall_seconds:g} s "
            f"({limits.download_retries + 1} attempts)."
        ) from cause
    raise FetchError(f"The download failed: {failure}.") from cause


def _attempt(
    client: httpx.Client,
    url: str,
    target: Path,
    limits: ImageLimits,
    progress: Progress | None,
) -> int:
    offset = target.stat().st_size if target.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == httpx.codes.REQUESTED_RANGE_NOT_SATISFIABLE:
                # We hold the whole file already; the checksum will tell.
                return offset
            offset = _resume_point(response, offset)
            total = _total(response, offset, limits)
            return _receive(response, target, offset, total, limits, progress)
    except httpx.TransportError as exc:
        raise _Retry(_describe(exc)) from exc


def _resume_point(response: httpx.Response, offset: int) -> int:
    status = response.status_code
    if status == httpx.codes.PARTIAL_CONTENT:
        start = response.headers.get("content-range", "").removeprefix("bytes ")
        if start.split("-")[0] == str(offset):
            return offset
        raise _Retry(f"the server resumed at the wrong place ({start})")
    if status == httpx.codes.OK:
        # The server ignored Range (or we asked for none): from the start.
        return 0
    if status >= 500 or status == httpx.codes.TOO_MANY_REQUESTS:
        raise _Retry(f"HTTP {status}")
    raise FetchError(f"The server answered HTTP {status} {response.reason_phrase}.")


def _total(response: httpx.Response, offset: int, limits: ImageLimits) -> int | None:
    length = response.headers.get("content-length")
    # A compressed transfer encoding makes Content-Length the wire size.
    if length is None or response.headers.get("content-encoding"):
        return None

    total = offset + int(length)
    if total > limits.download_bytes:
        raise ImageTooLarge(_too_large(limits))
    return total


def _receive(
    response: httpx.Response,
    target: Path,
    offset: int,
    total: int | None,
    limits: ImageLimits,
    progress: Progress | None,
) -> int:
    size = offset
    with open(target, "ab" if offset else "wb") as out:
        # Without a chunk size httpx hands over bytes as they arrive; with
        # one it holds them back, and a dropped connection would lose them.
        for block in response.iter_bytes():
            size += len(block)
            if size > limits.download_bytes:
                raise ImageTooLarge(_too_large(limits))
            out.write(block)
            if progress is not None:
                progress(size, total)

    if total is not None and size != total:
        raise _Retry(f"the connection closed at byte {size} of {total}")
    return size


def _too_large(limits: ImageLimits) -> str:
    return f"The download is larger than {limits.download_bytes / GiB:.1f} GiB."


def _describe(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "no data arrived in time"
    return str(exc) or type(exc).__name__
