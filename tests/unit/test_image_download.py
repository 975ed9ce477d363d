"""Downloads against a loopback server that misbehaves on purpose."""

from __future__ import annotations

import hashlib
import os

import pytest

from shoal.images import download as download_module
from shoal.images.download import download, verify
from shoal.images.errors import (
    ChecksumMismatch,
    DownloadStalled,
    FetchError,
    ImageTooLarge,
)
from shoal.images.limits import ImageLimits
from tests.image_server import image_server

BODY = os.urandom(300_000)
LIMITS = ImageLimits(stall_seconds=0.5, download_retries=2)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(download_module, "RETRY_PAUSE_SECONDS", 0.01)


@pytest.fixture
def server():
    with image_server() as running:
        yield running


def test_download_writes_the_file_and_reports_progress(server, tmp_path):
    url = server.add("disk.img", BODY)
    seen = []

    size = download(url, tmp_path / "part", LIMITS, lambda d, t: seen.append((d, t)))

    assert size == len(BODY)
    assert (tmp_path / "part").read_bytes() == BODY
    assert seen[-1] == (len(BODY), len(BODY))


def test_dropped_connection_resumes_with_a_range_request(server, tmp_path):
    url = server.add("disk.img", BODY, cut_at=100_000)

    download(url, tmp_path / "part", LIMITS)

    assert (tmp_path / "part").read_bytes() == BODY
    assert server.ranges("disk.img") == [None, "bytes=100000-"]


def test_partial_file_from_an_earlier_run_is_resumed(server, tmp_path):
    url = server.add("disk.img", BODY)
    (tmp_path / "part").write_bytes(BODY[:123_456])

    download(url, tmp_path / "part", LIMITS)

    assert (tmp_path / "part").read_bytes() == BODY
    assert server.ranges("disk.img") == ["bytes=123456-"]


def test_server_ignoring_range_is_read_again_from_the_start(server, tmp_path):
    url = server.add("disk.img", BODY, ignore_range=True)
    (tmp_path / "part").write_bytes(b"stale bytes")

    download(url, tmp_path / "part", LIMITS)

    assert (tmp_path / "part").read_bytes() == BODY


def test_stalled_download_fails_and_leaves_no_partial_file(server, tmp_path):
    url = server.add("disk.img", BODY, stall_at=50_000, stall_seconds=3)

    with pytest.raises(DownloadStalled):
        download(url, tmp_path / "part", LIMITS)

    assert not (tmp_path / "part").exists()
    assert len(server.ranges("disk.img")) == LIMITS.download_retries + 1


def test_truncated_download_that_never_completes_fails_without_a_file(server, tmp_path):
    url = server.add("disk.img", BODY, cut_at=1000, cut_every_time=True)

    with pytest.raises(FetchError, match="download failed"):
        download(url, tmp_path / "part", ImageLimits(download_retries=0))

    assert not (tmp_path / "part").exists()


def test_download_larger_than_the_limit_is_refused_before_reading(server, tmp_path):
    url = server.add("disk.img", BODY)

    with pytest.raises(ImageTooLarge):
        download(url, tmp_path / "part", ImageLimits(download_bytes=1000))

    assert not (tmp_path / "part").exists()


def test_http_error_fails_at_once_without_retrying(server, tmp_path):
    with pytest.raises(FetchError, match="404"):
        download(server.url("missing.img"), tmp_path / "part", LIMITS)

    assert server.ranges("missing.img") == [None]
    assert not (tmp_path / "part").exists()


@pytest.mark.parametrize("url", ["ftp://example.org/x.img", "file:///etc/passwd"])
def test_only_http_and_https_urls_are_fetched(tmp_path, url):
    with pytest.raises(FetchError, match="http or https"):
        download(url, tmp_path / "part", LIMITS)


def test_verify_accepts_the_right_digest(tmp_path):
    path = tmp_path / "file"
    path.write_bytes(BODY)

    verify(path, "sha512:" + hashlib.sha512(BODY).hexdigest())

    assert path.exists()


def test_verify_removes_a_file_with_the_wrong_digest(tmp_path):
    path = tmp_path / "file"
    path.write_bytes(BODY)

    with pytest.raises(ChecksumMismatch):
        verify(path, "sha256:" + "0" * 64)

    assert not path.exists()
