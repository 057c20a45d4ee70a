"""Message Batches for runs that can wait: half price, results within hours.

`BatchCollector.call(call_key, params, ctx)` looks like one blocking Messages request to
the provider. Underneath, requests that arrive within `window_s` (or `max_requests` of
them) go out as one batch; one background thread polls open batches every `poll_s` and
hands each waiting call its result.

Resume: each request's batch id is stored in diskcache (`<workspace>/.refute/state/batches`)
under a custom id derived from the call key and the exact parameters. A run that is
interrupted and started again asks for the same calls, finds their batch ids and polls
those batches instead of submitting (and paying for) them again. Once an item's outcome
is handed to its call (answer or error), its id is forgotten: the journal replays finished
calls, and a retry or re-run of a failed one submits it afresh.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import diskcache

from refute.orchestration.model import stable_hash
from refute.orchestration.providers.base import CallContext, ProviderError

log = logging.getLogger(__name__)

_WAIT_SLICE_S = 0.2  # how often a waiting call looks at its cancel flag
_GONE_AFTER_S = 7 * 24 * 3600  # stored ids older than this are dropped (results expire after 29 days)


class BatchItemFailed(ProviderError):
    """A batch item expired or was cancelled at the API: retryable, it is submitted again."""

    retryable = True


def custom_id_for(call_key: str, params: dict[str, Any]) -> str:
    """Stable per (call, turn): the API allows 64 characters of [A-Za-z0-9_-]."""
    return stable_hash("batch-item/v1", call_key, params)[:64]


@dataclass
class _Item:
    custom_id: str
    params: dict[str, Any]
    futures: list[Future] = field(default_factory=list)
    queued_at: float = field(default_factory=time.monotonic)


class BatchCollector:
    def __init__(self, client: Any, state_dir: str | Path, *, window_s: float = 2.0, poll_s: float = 30.0,
                 max_requests: int = 1000) -> None:
        self._client = client
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        self._store = diskcache.Cache(str(state_dir))
        self.window_s = window_s
        self.poll_s = poll_s
        self.max_requests = max(1, min(max_requests, 100_000))
        self._cond = threading.Condition()
        self._pending: dict[str, _Item] = {}  # not yet submitted
        self._waiting: dict[str, _Item] = {}  # submitted (or resumed), result not yet in
        self._open: dict[str, set[str]] = {}  # batch id -> custom ids waiting on it
        self._next_poll = 0.0
        self._closed = False
        self.submitted_batches: list[str] = []  # ids this collector created (for tests and logs)
        self._thread = threading.Thread(target=self._loop, name="refute-batches", daemon=True)
        self._thread.start()

    # called from the provider's worker threads -------------------------------------------
    def call(self, call_key: str, params: dict[str, Any], ctx: CallContext) -> Any:
        """The Message for `params`, blocking until its batch has ended."""
        future = self.submit(call_key, params)
        while True:
            if ctx.cancelled.is_set():
                # The item stays in its batch and in the store: a resumed run picks it up.
                from refute.orchestration.providers.anthropic_faults import Cancelled

                raise Cancelled("cancelled while waiting for a message batch")
            try:
                return future.result(timeout=_WAIT_SLICE_S)
            except FutureTimeout:
                continue

    def submit(self, call_key: str, params: dict[str, Any]) -> Future:
        custom_id = custom_id_for(call_key, params)
        future: Future = Future()
        with self._cond:
            if self._closed:
                future.set_exception(ProviderError("the batch collector is closed"))
                return future
            for table in (self._waiting, self._pending):
                if custom_id in table:  # the same request already in flight: share its answer
                    table[custom_id].futures.append(future)
                    return future
            stored = self._store.get("item:" + custom_id)
            if stored and time.time() - stored.get("at", 0) < _GONE_AFTER_S:
                item = _Item(custom_id, params, [future])
                self._waiting[custom_id] = item
                self._open.setdefault(stored["batch_id"], set()).add(custom_id)
                self._next_poll = 0.0  # resumed: look at once
                log.info("resuming batch item %s from batch %s", custom_id[:12], stored["batch_id"])
            else:
                self._pending[custom_id] = _Item(custom_id, params, [future])
            self._cond.notify_all()
        return future

    def close(self) -> None:
        with self._cond:
            self._closed = True
            items = list(self._pending.values()) + list(self._waiting.values())
            self._pending.clear()
            self._waiting.clear()
            self._open.clear()
            self._cond.notify_all()
        for item in items:
            _fail(item, ProviderError("the provider was closed before the batch ended"))
        self._thread.join(timeout=5)
        self._store.close()

    # the background thread ----------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                now = time.monotonic()
                flush_at = min((i.queued_at for i in self._pending.values()), default=None)
                due_flush = flush_at is not None and (now - flush_at >= self.window_s
                                                      or len(self._pending) >= self.max_requests)
                due_poll = bool(self._open) and now >= self._next_poll
                if not due_flush and not due_poll:
                    waits = []
                    if flush_at is not None:
                        waits.append(flush_at + self.window_s - now)
                    if self._open:
                        waits.append(self._next_poll - now)
                    self._cond.wait(timeout=max(0.01, min(waits)) if waits else None)
                    continue
                to_submit: list[_Item] = []
                if due_flush:
                    to_submit = list(self._pending.values())[: self.max_requests]
                    for item in to_submit:
                        del self._pending[item.custom_id]
                open_batches = list(self._open) if due_poll else []
                if due_poll:
                    self._next_poll = now + self.poll_s
            try:
                if to_submit:
                    self._create(to_submit)
                for batch_id in open_batches:
                    self._poll(batch_id)
            except Exception:  # never let the thread die: waiting calls would hang
                log.exception("message batch thread error")

    def _create(self, items: list[_Item]) -> None:
        from refute.orchestration.providers.anthropic_faults import map_api_error

        try:
            batch = self._client.messages.batches.create(
                requests=[{"custom_id": i.custom_id, "params": i.params} for i in items])
        except anthropic.AnthropicError as exc:
            error = map_api_error(exc)
            for item in items:
                _fail(item, error)
            return
        except Exception as exc:
            for item in items:
                _fail(item, ProviderError(f"submitting a message batch failed: {exc.__class__.__name__}: {exc}"))
            return
        now = time.time()
        for item in items:
            self._store.set("item:" + item.custom_id, {"batch_id": batch.id, "at": now})
        with self._cond:
            self.submitted_batches.append(batch.id)
            for item in items:
                self._waiting[item.custom_id] = item
            if not self._open:  # otherwise the running poll schedule covers the new batch too
                self._next_poll = time.monotonic() + self.poll_s
            self._open.setdefault(batch.id, set()).update(i.custom_id for i in items)
            self._cond.notify_all()
        log.info("submitted message batch %s with %d request(s)", batch.id, len(items))

    def _poll(self, batch_id: str) -> None:
        from refute.orchestration.providers.anthropic_faults import error_from_type, map_api_error

        try:
            batch = self._client.messages.batches.retrieve(batch_id)
            if batch.processing_status != "ended":
                return
            results = list(self._client.messages.batches.results(batch_id))
        except anthropic.NotFoundError as exc:
            self._finish_batch(batch_id, {}, map_api_error(exc))
            return
        except anthropic.AnthropicError as exc:
            log.warning("polling message batch %s failed (will poll again): %s", batch_id, map_api_error(exc))
            return
        by_id: dict[str, Any] = {}
        for line in results:
            result = line.result
            if result.type == "succeeded":
                by_id[line.custom_id] = result.message
            elif result.type == "errored":
                err = getattr(result.error, "error", None)
                by_id[line.custom_id] = error_from_type(getattr(err, "type", None),
                                                        getattr(err, "message", "") or "batch item errored")
            else:
                by_id[line.custom_id] = BatchItemFailed(f"batch item {result.type} before it ran")
        self._finish_batch(batch_id, by_id, ProviderError(f"message batch {batch_id} ended without this request"))

    def _finish_batch(self, batch_id: str, by_id: dict[str, Any], missing: ProviderError) -> None:
        with self._cond:
            ids = self._open.pop(batch_id, set())
            items = [self._waiting.pop(cid) for cid in ids if cid in self._waiting]
        for item in items:
            outcome = by_id.get(item.custom_id, missing)
            # Delivered (or failed): a later retry or re-run must submit afresh, not replay
            # this answer; finished calls are replayed by the journal, not from here.
            self._store.delete("item:" + item.custom_id)
            if isinstance(outcome, BaseException):
                _fail(item, outcome)
            else:
                for future in item.futures:
                    if not future.done():
                        future.set_result(outcome)


def _fail(item: _Item, error: BaseException) -> None:
    for future in item.futures:
        if not future.done():
            future.set_exception(error)
