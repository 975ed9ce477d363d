"""Shoal's API served by uvicorn on a loopback port, in a thread.

For tests that need real HTTP: real clients, and requests that must truly
overlap. Every response is kept, to be judged like the TestClient's.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn


class Recorder:
    """ASGI wrapper that keeps every response, to judge after the test."""

    def __init__(self, app):
        self.app = app
        self.seen: list[httpx.Response] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        parts: dict = {"body": []}

        async def keep(message):
            if message["type"] == "http.response.start":
                parts["status"] = message["status"]
                parts["headers"] = [
                    (k.decode(), v.decode()) for k, v in message["headers"]
                ]
            elif message["type"] == "http.response.body":
                parts["body"].append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, keep)
        self.seen.append(_response(scope, parts))


def _response(scope, parts: dict) -> httpx.Response:
    url = f"http://shoal{scope['path']}?{scope['query_string'].decode()}"
    return httpx.Response(
        parts["status"],
        headers=parts["headers"],
        content=b"".join(parts["body"]),
        request=httpx.Request(scope["method"], url),
    )


@contextmanager
def serve(app) -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yield its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.start()
    try:
        _wait_until(lambda: server.started or not thread.is_alive())
        assert server.started, "the test server did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _wait_until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
