"""What a call may cost, as the providers reserve it: one rule for every provider that runs
tool turns and corrective retries (the Messages API and OpenAI-compatible endpoints).

A call's first request is estimated at 3 UTF-8 bytes a token (code averages about 3.5)
and then calibrated (`InputCalibration`): after each paid call the provider records the
ratio of the input tokens the API counted to that estimate, per (provider, model), in
`<workspace>/.refute/state/input_calibration.json`; later reservations use the highest
of the last `CALIBRATION_WINDOW` ratios times `CALIBRATION_MARGIN`. Why: the fixed
estimate over-reserves code by about a sixth, and reservations, not spend, decide when
a budget stops a run (issue 12: "exact input tokens, or an estimator calibrated against
the provider's counting and cached"). The highest recent ratio plus a margin keeps the
reservation above the real count with high probability, and it RAISES the estimate for
text that tokenizes densely (where 3 bytes a token was too low). The scheduler settles
every reservation to the real usage; a call that used more is counted in full and
logged (BudgetLedger.overruns).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from refute.orchestration.model import CallRequest, Usage
from refute.orchestration.providers.base import InvalidOutput, ProviderError
from refute.orchestration.providers.structured import parse_and_validate
from refute.orchestration.providers.tools import MAX_TOOL_CALLS_PER_TURN, MAX_TURN_RESULT_CHARS

CORRECTION_CHARS = 1_200  # the corrective user message after an invalid answer, at most
TOOL_STEP = MAX_TURN_RESULT_CHARS // 3 + 64 * MAX_TOOL_CALLS_PER_TURN  # tokens one tool turn appends at most
RETRY_STEP = CORRECTION_CHARS // 3 + 16  # tokens one corrective retry appends besides the answer


def upper_tokens(text: str) -> int:
    """A generous token count for reservations: 3 UTF-8 bytes a token."""
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / 3) + 8 if text else 0


def first_request_tokens(request: CallRequest, tool_schemas: Callable[[Any], Any]) -> int:
    """Input tokens of a call's first request: system, context, prompt, schema and the tool
    definitions as this provider sends them (`tool_schemas(request.tools)`)."""
    tokens = upper_tokens(request.system or "") + upper_tokens(request.context or "") + \
        upper_tokens(request.prompt) + 64
    if request.schema is not None:
        tokens += upper_tokens(json.dumps(request.schema))
    if request.tools:
        try:
            tokens += upper_tokens(json.dumps(tool_schemas(request.tools)))
        except ValueError:
            pass  # call() reports the unknown tool before sending anything
    return tokens


CALIBRATION_FILE = "input_calibration.json"
CALIBRATION_WINDOW = 64  # the latest ratios kept per (provider, model)
CALIBRATION_MIN = 3  # observations before the calibrated ratio replaces the upper estimate
CALIBRATION_MARGIN = 1.10  # over the highest recent ratio


class InputCalibration:
    """Counted / estimated input tokens of first requests, per (provider, model); kept in
    a small JSON file (written atomically; None: in memory only). Thread-safe."""

    def __init__(self, path: Path | None, *, learn: bool = True):
        self.path = path
        self.learn = learn
        self._lock = threading.Lock()
        self._ratios: dict[str, list[float]] = {}
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text("utf-8"))
                self._ratios = {str(k): [float(r) for r in v][-CALIBRATION_WINDOW:] for k, v in data.items()
                                if isinstance(v, list)}
            except (OSError, ValueError, TypeError, AttributeError):
                self._ratios = {}  # a damaged file only costs the calibration: it is relearnt

    @staticmethod
    def _key(provider: str, model: str) -> str:
        return f"{provider}/{model}"

    def ratio(self, provider: str, model: str) -> float | None:
        """The factor applied to the upper estimate, or None before CALIBRATION_MIN observations."""
        with self._lock:
            seen = self._ratios.get(self._key(provider, model)) or []
        if not self.learn or len(seen) < CALIBRATION_MIN:
            return None
        return max(seen) * CALIBRATION_MARGIN

    def estimate(self, provider: str, model: str, upper: int) -> int:
        """Input tokens to reserve for a first request whose upper estimate is `upper`."""
        ratio = self.ratio(provider, model)
        return upper if ratio is None or upper <= 0 else math.ceil(upper * ratio)

    def observe(self, provider: str, model: str, upper: int, counted: int) -> None:
        """A paid first request of `upper` estimated input tokens was counted as `counted`."""
        if not self.learn or upper <= 0 or counted <= 0:
            return
        with self._lock:
            seen = self._ratios.setdefault(self._key(provider, model), [])
            seen.append(round(counted / upper, 4))
            del seen[:-CALIBRATION_WINDOW]
            snapshot = json.dumps(self._ratios, sort_keys=True)
            if self.path is not None:
                _write_atomically(self.path, snapshot)


def _write_atomically(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".calibration-", dir=str(path.parent))
    except OSError:
        return  # a read-only state dir: the calibration stays in memory
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


_calibrations: dict[str, InputCalibration] = {}
_calibrations_lock = threading.Lock()


def calibration_for(workspace: str | os.PathLike[str]) -> InputCalibration:
    """The workspace's calibration (one per process, shared by its providers)."""
    path = Path(workspace).resolve() / ".refute" / "state" / CALIBRATION_FILE
    with _calibrations_lock:
        found = _calibrations.get(str(path))
        if found is None:
            found = _calibrations[str(path)] = InputCalibration(path)
        return found


def whole_call_tokens(prefix: int, out: int, *, tool_turns: int, retries: int) -> tuple[int, int]:
    """(input, output) tokens at most for the whole call: the first request, `tool_turns` tool
    turns and `retries` corrective retries, each re-sending the prefix and all appended before."""
    input_total = appended = 0
    for i in range(1 + tool_turns + retries):
        input_total += prefix + appended
        appended += out + (TOOL_STEP if i < tool_turns else RETRY_STEP)
    return input_total, (1 + tool_turns + retries) * out


class Ceiling:
    """The tokens a call may use, as its provider enforces them before every request. With a
    scheduler that can grow the reservation (`extend`, CallContext.extend_reservation) it
    starts at the first request's reservation and grows turn by turn (a tool turn, a
    corrective retry), never beyond the whole call's worst case `hard_cap`; without one it
    is `hard_cap` from the start. Why turn by turn: reserving every possible turn up front
    (162,000 tokens for a refuter with tools) ended budgeted runs at a few percent."""

    def __init__(self, first: int, hard_cap: int, extend: Callable[[int, float], bool] | None,
                 extra_usd: Callable[[int], float]):
        self.hard_cap = int(hard_cap)
        self.grows = extend is not None
        self.value = int(first) if self.grows else self.hard_cap
        self._extend = extend
        self._extra_usd = extra_usd

    def fit_turn(self, spent: int, next_input: int, out: int, *, may_use_tools: bool, retry_room: int) -> str | None:
        """Grow the ceiling for the next request (with room for a tool turn and a final
        answer after it when tools may still be used); the reason it cannot, or None."""
        if may_use_tools:
            # Room for this turn and a final answer after it, or this turn must answer.
            self.grow_to(spent + next_input + out + next_input + out + TOOL_STEP + out + retry_room)
        if self.grow_to(spent + next_input + out):
            return None
        return (f"stopped before exceeding the call's reserved worst case ({self.value} tokens; "
                f"{spent} spent, next request up to {next_input + out})")

    def grow_to(self, tokens: int) -> bool:
        """Extend the reservation so `tokens` fit; False when the budget (or the hard cap) cannot."""
        if tokens <= self.value:
            return True
        if self._extend is None or tokens > self.hard_cap:
            return False
        extra = tokens - self.value
        if not self._extend(extra, self._extra_usd(extra)):
            return False
        self.value = tokens
        return True


def call_ceiling(provider: Any, request: Any, ctx: Any, model: str, output_retries: int) -> tuple[Ceiling, int]:
    """The ceiling a tool-running provider's call starts with, and the room it keeps for
    corrective retries of structured output (none when the ceiling grows: a retry is
    reserved when it happens). `provider` has worst_case, full_worst_case and
    _extra_usd(model, tokens, out), as the Messages and OpenAI-compatible providers do."""
    out = request.max_tokens
    ceiling = Ceiling(provider.worst_case(request)[0], provider.full_worst_case(request)[0], ctx.extend_reservation,
                      lambda extra: provider._extra_usd(model, extra, out))
    fixed_retries = request.schema is not None and not ceiling.grows
    return ceiling, output_retries * (out + RETRY_STEP + out) if fixed_retries else 0


def with_usage(error: ProviderError, usage: Usage, cost: Callable[[], float]) -> ProviderError:
    """Tokens were spent on a failed call: attach them (and their cost) so the budget counts them."""
    error.usage = usage  # type: ignore[attr-defined]
    try:
        error.cost_usd = cost()  # type: ignore[attr-defined]
    except Exception:  # an unpriced model must not hide the fault itself
        error.cost_usd = None  # type: ignore[attr-defined]
    return error


def answer_or_correction(text: str, schema: dict[str, Any] | None, retries_done: int,
                         max_retries: int) -> tuple[Any, str | None]:
    """(data, None) for an answer that satisfies `schema` (None, None without a schema);
    (None, the corrective user message) for one that does not, at most CORRECTION_CHARS as
    RETRY_STEP reserves; InvalidOutput once `max_retries` corrections were spent."""
    if schema is None:
        return None, None
    data, problem = parse_and_validate(text, schema)
    if problem is None:
        return data, None
    if retries_done >= max_retries:
        snippet = text[:300] + ("..." if len(text) > 300 else "")
        raise InvalidOutput(f"structured output invalid after {max_retries + 1} attempts: {problem}; "
                            f"last answer: {snippet!r}")
    return None, (f"Your answer does not satisfy the required JSON schema: {problem}. "
                  "Answer again with only the JSON value, nothing else.")[:CORRECTION_CHARS]
