"""A loopback HTTP server of image files for the fetch and import tests.

It answers Range requests as a mirror does, and can misbehave on purpose:
drop the connection part way (once, or every time), stall after some
bytes, or ignore Range. It records what each request asked for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHUNK = 1 << 16


@dataclass
class Served:
    """One file and how to serve it."""

    source: Path | bytes
    # Close the connection after this many body bytes: on the first
    # request only, or on every request.
    cut_at: int | None = None
    cut_every_time: bool = False
    # Send this many body bytes, then nothing for stall_seconds.
    stall_at: int | None = None
    stall_seconds: float = 30.0
    ignore_range: bool = False
    status: int = 200

    @property
    def size(self) -> int:
        if isinstance(self.source, Path):
            return self.source.stat().st_size
        return len(self.source)


@dataclass
class ImageServer:
    port: int
    files: dict[str, Served] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def add(self, name: str, source: Path | bytes, **behaviour) -> str:
        self.files[name] = Served(source, **behaviour)
        return self.url(name)

    def ranges(self, name: str) -> list[str | None]:
        return [r for path, r in self.requests if path == f"/{name}"]


class _Handler(BaseHTTPRequestHandler):
    server_version = "ShoalTestMirror/1"
    served: ImageServer

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass

    def do_GET(self) -> None:
        wanted = self.headers.get("Range")
        self.served.requests.append((self.path, wanted))
        entry = self.served.files.get(self.path.lstrip("/"))
        if entry is None or entry.status != 200:
            self.send_error(404 if entry is None else entry.status)
            return

        start = _range_start(wanted) if not entry.ignore_range else None
        self._headers(entry, start)
        self._body(entry, start or 0)

    def _headers(self, entry: Served, start: int | None) -> None:
        size = entry.size
        if start is not None and start >= size:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if start is None:
            self.send_response(200)
        else:
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.send_header("Content-Length", str(size - (start or 0)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def _body(self, entry: Served, start: int) -> None:
        if start >= entry.size:
            return
        limit = self._cut(entry)
        sent = 0
        for block in _blocks(entry.source, start):
            if entry.stall_at is not None and sent + len(block) > entry.stall_at:
                self.wfile.write(block[: entry.stall_at - sent])
                self.wfile.flush()
                time.sleep(entry.stall_seconds)
                return
            if limit is not None and sent + len(block) > limit:
                self.wfile.write(block[: limit - sent])
                return
            self.wfile.write(block)
            sent += len(block)

    def _cut(self, entry: Served) -> int | None:
        if entry.cut_at is None:
            return None
        if entry.cut_every_time:
            return entry.cut_at
        first = len(self.served.ranges(self.path.lstrip("/"))) == 1
        return entry.cut_at if first else None


def _range_start(header: str | None) -> int | None:
    if not header or not header.startswith("bytes="):
        return None
    return int(header.removeprefix("bytes=").split("-")[0])


def _blocks(source: Path | bytes, start: int) -> Iterator[bytes]:
    if isinstance(source, bytes):
        for offset in range(start, len(source), CHUNK):
            yield source[offset : offset + CHUNK]
        return
    with open(source, "rb") as stream:
        stream.seek(start)
        while block := stream.read(CHUNK * 16):
            yield block


@contextmanager
def image_server() -> Iterator[ImageServer]:
    """Serve on 127.0.0.1 (a free port) until the block ends."""
    handler = type("Handler", (_Handler,), {})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    state = ImageServer(port=httpd.server_address[1])
    handler.served = state

    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
