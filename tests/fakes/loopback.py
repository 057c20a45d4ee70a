"""The loopback HTTP server under every fake: a threading server on 127.0.0.1 with an
ephemeral port, served from a daemon thread, usable as a context manager.

One base so the fakes differ only in what they answer: slow handlers and keep-alive
client connections never hold up stop(), and client resets are not printed (tests cause
them on purpose)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # resets and client timeouts are deliberate here


class LoopbackServer:
    """Subclasses give `handler()` (a BaseHTTPRequestHandler class bound to them)."""

    _server: _Server | None = None
    thread_name = "fake-loopback"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self):
        self._server = _Server(("127.0.0.1", 0), self.handler())
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                         name=self.thread_name, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        assert self._server, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"
