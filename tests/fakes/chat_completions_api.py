"""A loopback HTTP server that speaks the subset of the OpenAI chat-completions API refute uses.

The real `openai` SDK is exercised against it (the OpenAI-compatible provider's unit
tests): POST /v1/chat/completions and GET /v1/models. Replies are scripted: a queue of
`Reply` objects (`enqueue`) or a function `responder(body) -> Reply`. Faults are replies
too: 429 with retry-after, 5xx, slow replies (client timeouts), a body that is not JSON,
truncation (finish_reason "length"), refusal, tool calls, missing usage, x-ratelimit-*
headers. Every request is recorded (path, headers, parsed body) in `requests`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from tests.fakes.loopback import LoopbackServer

TEST_OPENAI_KEY = "sk-proj-TESTKEY0123456789abcdefghijklmn"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON; str -> sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def completion(content: str | None = "", *, finish_reason: str = "stop", usage: dict[str, Any] | None | bool = True,
               tool_calls: list[dict[str, Any]] | None = None, refusal: str | None = None,
               headers: dict[str, str] | None = None) -> Reply:
    """A chat completion with one choice. `usage=True` estimates it, None/False leaves it out."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if refusal is not None:
        message["refusal"] = refusal
    body: dict[str, Any] = {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "fake",
                            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}]}
    if isinstance(usage, dict):
        body["usage"] = usage
    elif usage:
        body["usage"] = "estimate"  # filled in from the request by the server
    return Reply(body=body, headers=dict(headers or {}))


def json_answer(obj: Any, **kw: Any) -> Reply:
    return completion(json.dumps(obj), **kw)


def tool_call(name: str, arguments: dict[str, Any] | str, call_id: str = "call_1") -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def error(status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status=status, body={"error": {"message": message, "type": "error", "code": code}},
                 headers=dict(headers or {}))


def rate_limited(retry_after: float | None = 1.0) -> Reply:
    return error(429, "Rate limit reached", code="rate_limit_exceeded",
                 headers={"retry-after": str(retry_after)} if retry_after is not None else None)


Responder = Callable[[dict[str, Any]], Reply]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeChatCompletionsAPI(LoopbackServer):
    """`with FakeChatCompletionsAPI() as api:`; `api.base_url` is the /v1 address."""

    def __init__(self, replies: list[Reply] | None = None, *, responder: Responder | None = None,
                 models: tuple[str, ...] = ("fake-model",), api_key: str | None = None) -> None:
        self.api_key = api_key  # when set, any other bearer token gets a 401
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque(replies or [])
        self.responder = responder
        self.models = models
        self.requests: list[Recorded] = []

    thread_name = "fake-chat-completions"

    def handler(self) -> type[_Handler]:
        fake = self

        class Handler(_Handler):
            api = fake

        return Handler

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1"

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def chat_bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(body)
        return error(400, "fake chat-completions API: no scripted reply left")


def _estimate(obj: Any) -> int:
    return max(1, len(json.dumps(obj)) // 4)


class _Handler(BaseHTTPRequestHandler):
    api: FakeChatCompletionsAPI
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            pass

    def _authorized(self) -> bool:
        if self.api.api_key is None or self.headers.get("authorization") == f"Bearer {self.api.api_key}":
            return True
        self._send(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                   "code": "invalid_api_key"}})
        return False

    def do_GET(self) -> None:  # noqa: N802
        self.api.requests.append(Recorded("GET", self.path, {k.lower(): v for k, v in self.headers.items()}, None))
        if not self._authorized():
            return
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "fake"}
                                                        for m in self.api.models]})
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self.api._lock:
            self.api.requests.append(Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if not self._authorized():
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        reply = self.api._next(body if isinstance(body, dict) else {})
        if reply.delay_s:
            time.sleep(reply.delay_s)
        payload = reply.body
        if isinstance(payload, dict) and payload.get("usage") == "estimate":
            payload = dict(payload)
            out = _estimate(payload["choices"][0]["message"])
            payload["usage"] = {"prompt_tokens": _estimate(body.get("messages")), "completion_tokens": out,
                                "total_tokens": _estimate(body.get("messages")) + out}
        self._send(reply.status, payload if payload is not None else {}, reply.headers)
