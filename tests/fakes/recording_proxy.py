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
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.loopback import LoopbackServer


@dataclass
class Forwarded:
    method: str
    path: str
    body: Any
    status: int | None  # None while the model is still answering


class RecordingProxy(LoopbackServer):
    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._lock = threading.Lock()
        self.requests: list[Forwarded] = []

    thread_name = "recording-proxy"

    def handler(self) -> type[BaseHTTPRequestHandler]:
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

        return Handler

    @property
    def url(self) -> str:
        return self.root_url

    def model_requests(self, path_suffix: str = "/chat/completions") -> list[Forwarded]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path.endswith(path_suffix)]
