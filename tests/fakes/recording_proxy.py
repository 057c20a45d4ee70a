"""A loopback HTTP proxy that forwards every request to a real server and records it.

Used with the real local model: the tests count what reached the model (a replayed run
must send nothing) and read what each refuter was asked (an invented quote must never
reach one), without changing what the model answers.
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Forwarded:
    method: str
    path: str
    body: Any
    status: int | None  # None while the model is still answering


class RecordingProxy:
    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._lock = threading.Lock()
        self.requests: list[Forwarded] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> "RecordingProxy":
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                record = Forwarded(method, self.path, body, None)
                with proxy._lock:  # recorded on arrival: a request counts once it reached the model
                    proxy.requests.append(record)
                conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=600)
                try:
                    conn.request(method, self.path, body=raw, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                    status = response.status
                    content_type = response.getheader("content-type") or "application/json"
                except OSError as exc:  # the model server went away: say so, as a server would
                    data, status, content_type = json.dumps({"error": {"message": str(exc)}}).encode(), 502, \
                        "application/json"
                finally:
                    conn.close()
                record.status = status
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass

            def do_POST(self) -> None:  # noqa: N802
                self._forward("POST")

            def do_GET(self) -> None:  # noqa: N802
                self._forward("GET")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # keep-alive client connections must not hold up stop()
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def model_requests(self, path_suffix: str = "/chat/completions") -> list[Forwarded]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path.endswith(path_suffix)]
