"""What a call may cost, as the providers reserve it: one rule for every provider that runs
tool turns and corrective retries (the Messages API and OpenAI-compatible endpoints).

Upper estimates, never counts: 3 UTF-8 bytes a token (code averages about 3.5), so a
reservation is never below what the call uses; the scheduler settles it to the real usage.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable

from refute.orchestration.model import CallRequest, Usage
from refute.orchestration.providers.base import ProviderError
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


def whole_call_tokens(prefix: int, out: int, *, tool_turns: int, retries: int) -> tuple[int, int]:
    """(input, output) tokens at most for the whole call: the first request, `tool_turns` tool
    turns and `retries` corrective retries, each re-sending the prefix and all appended before."""
    input_total = appended = 0
    for i in range(1 + tool_turns + retries):
        input_total += prefix + appended
        appended += out + (TOOL_STEP if i < tool_turns else RETRY_STEP)
    return input_total, (1 + tool_turns + retries) * out


def with_usage(error: ProviderError, usage: Usage, cost: Callable[[], float]) -> ProviderError:
    """Tokens were spent on a failed call: attach them (and their cost) so the budget counts them."""
    error.usage = usage  # type: ignore[attr-defined]
    try:
        error.cost_usd = cost()  # type: ignore[attr-defined]
    except Exception:  # an unpriced model must not hide the fault itself
        error.cost_usd = None  # type: ignore[attr-defined]
    return error
