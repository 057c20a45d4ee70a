"""A loopback HTTP server that speaks the subset of the Anthropic Messages API refute uses.

No model is reachable from the build machines, so the real SDK path is exercised against
this server: POST /v1/messages, /v1/messages/count_tokens, /v1/messages/batches,
GET /v1/messages/batches/{id} and /v1/messages/batches/{id}/results (JSONL).

Replies are scripted: a queue of `Reply` objects (`enqueue`), or a function
`responder(request) -> Reply`. Faults are replies too: 429 with retry-after, 529, 500,
connection reset, slow replies, spend limit, truncation, refusal, invalid JSON. Extra
HTTP-level faults for any route go through `fail_next(method, path_regex, reply)`.

Every HTTP request is recorded (method, path, headers, parsed body) in `requests`, and
every Messages request (direct or inside a batch) in `message_requests`, so tests assert
what left the machine.

Usage reported back imitates the real API: tokens are estimated from the request size
(4 characters a token), and a prefix ending in a `cache_control` block is a cache write
the first time and a cache read afterwards, unless it is shorter than the model's
minimum cacheable prefix (orchestration/calls/cache_minimums.json): then it is plain
input, as the real API silently does.

Rate limits (`FakeMessagesAPI(limiter=TokenBucketLimiter(...))`): a token bucket per
requests and input tokens per minute, like the API's, continuously refilled; every
Messages answer carries the real `anthropic-ratelimit-{requests,input-tokens,
output-tokens,tokens}-{limit,remaining,reset}` headers (reset: RFC 3339 time when the
bucket is full again), and a request that does not fit is answered 429
`rate_limit_error` with `retry-after` (whole seconds, as the API sends it) and the same
headers. `burst_s` sets the bucket's capacity in seconds of refill (the API's is a
minute; benchmarks use less so a short run measures the steady rate, not the burst).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import re
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from refute.orchestration.calls.prompt_cache import minimum_prefix_tokens

from tests.fakes.loopback import LoopbackServer

TEST_API_KEY = "sk-ant-api03-TESTKEY-0123456789abcdefghij"  # what tests put in ANTHROPIC_API_KEY


# --- replies -------------------------------------------------------------------------------


@dataclass
class Reply:
    """One scripted answer. `body` dict -> JSON; str -> sent as is."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # sleep before answering (to trip client timeouts)
    reset: bool = False  # drop the connection with a TCP reset instead of answering
    batch_result: str | None = None  # inside a batch: "expired" | "canceled" instead of a result


def message(content: list[dict[str, Any]], *, stop_reason: str = "end_turn",
            usage: dict[str, int] | None = None, stop_details: dict[str, Any] | None = None,
            model: str | None = None) -> Reply:
    """A Messages API reply with these content blocks. `usage` overrides the estimate."""
    body: dict[str, Any] = {
        "type": "message", "role": "assistant", "content": content,
        "stop_reason": stop_reason, "stop_sequence": None,
    }
    if usage is not None:
        body["usage"] = usage
    if stop_details is not None:
        body["stop_details"] = stop_details
    if model is not None:
        body["model"] = model
    return Reply(body=body)


def text_reply(text: str, **kw: Any) -> Reply:
    return message([{"type": "text", "text": text}], **kw)


def json_reply(obj: Any, **kw: Any) -> Reply:
    return text_reply(json.dumps(obj), **kw)


def no_usage_reply(text: str) -> Reply:
    """A reply without a `usage` block, as some gateways send."""
    return Reply(body={"type": "message", "role": "assistant", "content": [{"type": "text", "text": text}],
                       "stop_reason": "end_turn", "stop_sequence": None, "usage": None})


def invalid_json_reply(text: str = "Here are the findings: none, I think.") -> Reply:
    """Model text that is not valid JSON (or not valid for the schema)."""
    return text_reply(text)


def tool_use_reply(*calls: tuple[str, dict[str, Any]], text: str | None = None) -> Reply:
    """The model asks for one or more tool calls: tool_use_reply(("read_file", {...}))."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for i, (name, tool_input) in enumerate(calls):
        blocks.append({"type": "tool_use", "id": f"toolu_fake_{name}_{i}_{time.monotonic_ns()}",
                       "name": name, "input": tool_input})
    return message(blocks, stop_reason="tool_use")


def truncated_reply(text: str = '{"findings": [{"title": "unterminated') -> Reply:
    return text_reply(text, stop_reason="max_tokens")


def refusal_reply(explanation: str = "I can't help with that.") -> Reply:
    return message([], stop_reason="refusal",
                   stop_details={"type": "refusal", "category": None, "explanation": explanation})


def error_reply(status: int, error_type: str, msg: str, *, headers: dict[str, str] | None = None,
                error_code: str | None = None) -> Reply:
    error: dict[str, Any] = {"type": error_type, "message": msg}
    if error_code:
        error["details"] = {"error_code": error_code}
    return Reply(status=status, body={"type": "error", "error": error}, headers=headers or {})


def rate_limited(retry_after: float | None = 1) -> Reply:
    headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
    return error_reply(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit",
                       headers=headers)


def overloaded(retry_after: float | None = None) -> Reply:
    headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
    return error_reply(529, "overloaded_error", "Overloaded", headers=headers)


def server_error(status: int = 500) -> Reply:
    return error_reply(status, "api_error", "Internal server error")


def spend_limit(*, coded: bool = True) -> Reply:
    """The account's spend limit. `coded`: the SDK-typed 429 with an error code; otherwise
    the 400 with only a message, as older API versions answered."""
    if coded:
        return error_reply(429, "rate_limit_error", "Your organization has reached its monthly spend limit.",
                           headers={"retry-after": "60"}, error_code="enforced_spend_limit_reached")
    return error_reply(400, "invalid_request_error",
                       "You have reached your specified API usage limits. You will regain access on 2026-12-01.")


def connection_reset() -> Reply:
    return Reply(reset=True)


def slow(reply: Reply, delay_s: float) -> Reply:
    reply.delay_s = delay_s
    return reply


def batch_expired() -> Reply:
    return Reply(batch_result="expired")


# --- recorded traffic ----------------------------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or raw text, or None
    raw: bytes = b""


@dataclass
class MessageCall:
    """One Messages request the fake served, directly or as an item of a batch."""

    params: dict[str, Any]
    via: str  # "direct" | "batch"
    headers: dict[str, str]
    custom_id: str | None = None


Responder = Callable[[MessageCall], Reply]


def estimate_tokens(obj: Any) -> int:
    text = obj if isinstance(obj, str) else json.dumps(obj, sort_keys=True)
    return max(1, len(text) // 4)


# --- rate limits -----------------------------------------------------------------------------


class TokenBucketLimiter:
    """Requests, input tokens and (when given) output tokens per minute as token buckets,
    with the API's headers. Output is counted the way the API does: a request is admitted
    against its max_tokens, and what it did not generate is credited back at the end."""

    GENEROUS_OUTPUT_PER_MIN = 10_000_000  # reported when output is not what a test limits

    def __init__(self, *, requests_per_min: int, input_tokens_per_min: int,
                 output_tokens_per_min: int | None = None, burst_s: float = 60.0):
        self.limits = {"requests": requests_per_min, "input-tokens": input_tokens_per_min,
                       "output-tokens": output_tokens_per_min or self.GENEROUS_OUTPUT_PER_MIN}
        self.capacity = {k: v * burst_s / 60.0 for k, v in self.limits.items()}
        self.level = dict(self.capacity)
        self.updated = time.monotonic()
        self._lock = threading.Lock()
        self.accepted = 0
        self.accepted_input_tokens = 0
        self.generated_output_tokens = 0
        self.rejected = 0
        self.first_accept: float | None = None
        self.last_accept: float | None = None

    def _refill(self, now: float) -> None:
        elapsed = now - self.updated
        self.updated = now
        for k, per_min in self.limits.items():
            self.level[k] = min(self.capacity[k], self.level[k] + elapsed * per_min / 60.0)

    def admit(self, input_tokens: int, max_output: int = 0) -> tuple[bool, dict[str, str]]:
        """(admitted, headers) for one request of `input_tokens` that may generate `max_output`."""
        with self._lock:
            now = time.monotonic()
            self._refill(now)
            need = {"requests": 1.0, "input-tokens": float(input_tokens), "output-tokens": float(max_output)}
            ok = all(self.level[k] >= min(need[k], self.capacity[k]) for k in need)
            if ok:
                for k in need:
                    self.level[k] -= need[k]
                self.accepted += 1
                self.accepted_input_tokens += input_tokens
                self.first_accept = self.first_accept if self.first_accept is not None else now
                self.last_accept = now
            else:
                self.rejected += 1
            headers = self._headers()
            if not ok:
                wait = max((need[k] - self.level[k]) / (self.limits[k] / 60.0) for k in need if self.level[k] < need[k])
                headers["retry-after"] = str(max(1, math.ceil(wait)))
            return ok, headers

    def generated(self, max_output: int, output_tokens: int) -> None:
        """An admitted request finished having generated `output_tokens` of its `max_output`."""
        with self._lock:
            self.generated_output_tokens += output_tokens
            self.level["output-tokens"] = min(self.capacity["output-tokens"],
                                              self.level["output-tokens"] + max(max_output - output_tokens, 0))

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        wall = time.time()
        for k, per_min in self.limits.items():
            remaining = int(self.level[k])
            full_in = (self.capacity[k] - self.level[k]) / (per_min / 60.0)
            headers[f"anthropic-ratelimit-{k}-limit"] = str(per_min)
            headers[f"anthropic-ratelimit-{k}-remaining"] = str(max(remaining, 0))
            headers[f"anthropic-ratelimit-{k}-reset"] = _rfc3339(wall + full_in)
        out = self.limits["output-tokens"]
        headers["anthropic-ratelimit-tokens-limit"] = str(self.limits["input-tokens"] + out)
        headers["anthropic-ratelimit-tokens-remaining"] = str(int(self.level["input-tokens"])
                                                              + int(self.level["output-tokens"]))
        headers["anthropic-ratelimit-tokens-reset"] = headers["anthropic-ratelimit-input-tokens-reset"]
        return headers


def _rfc3339(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


# --- the server ----------------------------------------------------------------------------


class FakeMessagesAPI(LoopbackServer):
    """Usable as a context manager (`with FakeMessagesAPI() as api:`) or a pytest fixture."""

    def __init__(self, replies: list[Reply] | None = None, *, responder: Responder | None = None,
                 batch_ready_after_polls: int = 1, limiter: TokenBucketLimiter | None = None) -> None:
        self.limiter = limiter
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque(replies or [])
        self.responder = responder
        self.requests: list[RecordedRequest] = []
        self.message_requests: list[MessageCall] = []
        self.batch_ready_after_polls = batch_ready_after_polls
        self.batches: dict[str, dict[str, Any]] = {}
        self._faults: list[tuple[str, re.Pattern[str], Reply]] = []
        self._cache: set[str] = set()
        self._stop = threading.Event()
        self._counter = 0

    # lifecycle ------------------------------------------------------------------------
    thread_name = "fake-messages-api"

    def handler(self) -> type[_Handler]:
        fake = self

        class Handler(_Handler):
            api = fake

        return Handler

    def stop(self) -> None:
        self._stop.set()
        super().stop()

    @property
    def url(self) -> str:
        return self.root_url

    # scripting ------------------------------------------------------------------------
    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def fail_next(self, method: str, path_regex: str, reply: Reply) -> None:
        """Answer the next request matching method and path with `reply` (any route)."""
        with self._lock:
            self._faults.append((method.upper(), re.compile(path_regex), reply))

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def message_bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [m.params for m in self.message_requests]

    def count(self, method: str, path_regex: str) -> int:
        pattern = re.compile(path_regex)
        with self._lock:
            return sum(1 for r in self.requests if r.method == method and pattern.fullmatch(r.path))

    def _next_reply(self, call: MessageCall) -> Reply:
        with self._lock:
            self.message_requests.append(call)
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(call)
        return error_reply(400, "invalid_request_error", "fake messages API: no scripted reply left")

    def _take_fault(self, method: str, path: str) -> Reply | None:
        with self._lock:
            for i, (m, pattern, reply) in enumerate(self._faults):
                if m == method and pattern.fullmatch(path):
                    del self._faults[i]
                    return reply
        return None

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}_fake_{self._counter:06d}"

    # Messages semantics ----------------------------------------------------------------
    def _usage(self, params: dict[str, Any], content: list[dict[str, Any]]) -> dict[str, int]:
        """Imitate the API's usage: the prefix up to the last cache_control block is written
        to the cache once and read from it afterwards; the rest is plain input."""
        ordered: list[Any] = list(params.get("tools") or [])
        system = params.get("system")
        ordered += [{"type": "text", "text": system}] if isinstance(system, str) else list(system or [])
        for msg in params.get("messages") or []:
            blocks = msg.get("content")
            ordered += [{"type": "text", "text": blocks}] if isinstance(blocks, str) else list(blocks or [])
        last_cached = max((i for i, b in enumerate(ordered) if isinstance(b, dict) and b.get("cache_control")),
                          default=-1)
        total = estimate_tokens(ordered) + estimate_tokens(params.get("output_config") or "")
        cache_write = cache_read = 0
        if last_cached >= 0:
            prefix = ordered[: last_cached + 1]
            prefix_tokens = estimate_tokens(prefix)
        if last_cached >= 0 and prefix_tokens >= minimum_prefix_tokens(str(params.get("model", ""))):
            # A prefix shorter than the model's minimum is silently not cached (as the API does).
            digest = hashlib.sha256((params.get("model", "") + json.dumps(prefix, sort_keys=True)).encode()).hexdigest()
            with self._lock:
                hit = digest in self._cache
                self._cache.add(digest)
            if hit:
                cache_read = prefix_tokens
            else:
                cache_write = prefix_tokens
            total -= prefix_tokens
        output = sum(estimate_tokens(b.get("text") or b.get("input") or "") for b in content) or 1
        return {"input_tokens": max(1, total), "output_tokens": output,
                "cache_creation_input_tokens": cache_write, "cache_read_input_tokens": cache_read}

    def _complete(self, reply: Reply, params: dict[str, Any]) -> dict[str, Any]:
        body = dict(reply.body)
        body.setdefault("id", self._next_id("msg"))
        body.setdefault("model", params.get("model", "claude-fake"))
        if "usage" not in body:
            body["usage"] = self._usage(params, body.get("content") or [])
        elif body["usage"] is None:
            del body["usage"]  # a gateway that sends no usage block (no_usage_reply)
        return body

    def _batch_result(self, custom_id: str, params: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        reply = self._next_reply(MessageCall(params=params, via="batch", headers=headers, custom_id=custom_id))
        if reply.batch_result in ("expired", "canceled"):
            result: dict[str, Any] = {"type": reply.batch_result}
        elif reply.reset or reply.status >= 400:
            error = (reply.body or {}).get("error") if isinstance(reply.body, dict) else None
            error = error or {"type": "api_error", "message": "connection reset"}
            result = {"type": "errored", "error": {"type": "error", "error": error}}
        else:
            result = {"type": "succeeded", "message": self._complete(reply, params)}
        return {"custom_id": custom_id, "result": result}

    def _batch_object(self, batch: dict[str, Any]) -> dict[str, Any]:
        ended = batch["polls"] > self.batch_ready_after_polls
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if ended:
            for line in batch["results"]:
                counts[line["result"]["type"]] += 1
        else:
            counts["processing"] = len(batch["results"])
        return {
            "id": batch["id"], "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts,
            "created_at": "2026-11-21T10:00:00Z", "expires_at": "2026-11-22T10:00:00Z",
            "ended_at": "2026-11-21T10:00:01Z" if ended else None,
            "archived_at": None, "cancel_initiated_at": None,
            "results_url": f"{self.url}/v1/messages/batches/{batch['id']}/results" if ended else None,
        }

    def route(self, req: RecordedRequest) -> tuple[Reply, bytes | None, str]:
        """(reply, payload override, content type) for one HTTP request."""
        fault = self._take_fault(req.method, req.path)
        if fault is not None:
            return fault, None, "application/json"
        path = req.path.split("?", 1)[0]
        if "/v1/" in path:  # gateways and Foundry put a prefix before /v1/
            path = path[path.index("/v1/"):]
        if req.method == "POST" and path == "/v1/messages":
            params = req.body if isinstance(req.body, dict) else {}
            limit_headers: dict[str, str] = {}
            if self.limiter is not None:
                usage = self._usage({**params, "model": "limit:" + str(params.get("model"))}, [])
                sent = usage["input_tokens"] + usage["cache_creation_input_tokens"] + usage["cache_read_input_tokens"]
                max_output = int(params.get("max_tokens") or 0)
                admitted, limit_headers = self.limiter.admit(sent, max_output)
                if not admitted:
                    return error_reply(429, "rate_limit_error", "Number of request tokens has exceeded your "
                                       "per-minute rate limit", headers=limit_headers), None, "application/json"
            reply = self._next_reply(MessageCall(params=params, via="direct", headers=req.headers))
            body = (self._complete(reply, params)
                    if reply.status == 200 and isinstance(reply.body, dict) and not reply.reset else None)
            if self.limiter is not None:
                # The answer takes its time while its max_tokens are held, then what it did
                # not generate is credited back (as the API counts output).
                self._stop.wait(reply.delay_s)
                self.limiter.generated(int(params.get("max_tokens") or 0),
                                       int(((body or {}).get("usage") or {}).get("output_tokens") or 0))
                reply = Reply(status=reply.status, body=reply.body, headers={**reply.headers, **limit_headers},
                              delay_s=0.0, reset=reply.reset, batch_result=reply.batch_result)
            return reply, json.dumps(body).encode() if body is not None else None, "application/json"
        if req.method == "POST" and path == "/v1/messages/count_tokens":
            params = req.body if isinstance(req.body, dict) else {}
            usage = self._usage({**params, "model": "count:" + str(params.get("model"))}, [])
            total = usage["input_tokens"] + usage["cache_creation_input_tokens"]
            return Reply(body={"input_tokens": total}), None, "application/json"
        if req.method == "POST" and path == "/v1/messages/batches":
            items = (req.body or {}).get("requests") or []
            batch_id = self._next_id("msgbatch")
            results = [self._batch_result(item["custom_id"], item["params"], req.headers) for item in items]
            batch = {"id": batch_id, "results": results, "polls": 0}
            with self._lock:
                self.batches[batch_id] = batch
            return Reply(body=self._batch_object(batch)), None, "application/json"
        m = re.fullmatch(r"/v1/messages/batches/([^/]+)(/results)?", path)
        if req.method == "GET" and m:
            with self._lock:
                batch = self.batches.get(m.group(1))
            if batch is None:
                return error_reply(404, "not_found_error", f"batch {m.group(1)} not found"), None, "application/json"
            if m.group(2):
                lines = "".join(json.dumps(line) + "\n" for line in batch["results"])
                return Reply(), lines.encode(), "application/binary"
            with self._lock:
                batch["polls"] += 1
            return Reply(body=self._batch_object(batch)), None, "application/json"
        return error_reply(404, "not_found_error", f"fake: no route {req.method} {path}"), None, "application/json"


class _Handler(BaseHTTPRequestHandler):
    api: FakeMessagesAPI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        req = RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, raw)
        with self.api._lock:
            self.api.requests.append(req)
        reply, payload, content_type = self.api.route(req)
        if reply.delay_s:
            self.api._stop.wait(reply.delay_s)
        if reply.reset:
            # SO_LINGER 0 turns close() into a TCP RST: the client sees a reset connection.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if payload is None:
            body_out = reply.body
            payload = (body_out if isinstance(body_out, str) else json.dumps(body_out or {})).encode()
        try:
            self.send_response(reply.status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(payload)))
            self.send_header("request-id", f"req_fake_{time.monotonic_ns()}")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True  # the client gave up (timeout): nothing to answer

    do_GET = _serve
    do_POST = _serve
