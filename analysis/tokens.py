"""Token estimates without a tokenizer.

`estimate_tokens(text)` is ceil((utf8_bytes - runs_of_spaces) / 3.5): code averages
about 3.5 bytes per token for BPE tokenizers like Claude's, and indentation is cheap
(a run of spaces is mostly one token), so every pair of spaces counts as one byte
less. The estimate never exceeds ceil(utf8_bytes / 3.5), which is the bound the
splitter uses (`max_bytes_for`), so a unit that fits in bytes also fits in tokens.
It is a planning number: budgets reserve worst cases from the provider, not from this.
"""

from __future__ import annotations

import math

BYTES_PER_TOKEN = 3.5


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    # str.count is C-speed; non-overlapping "  " pairs approximate indentation runs.
    size -= text.count("  ")
    return max(1, math.ceil(size / BYTES_PER_TOKEN))


def max_bytes_for(max_tokens: int) -> int:
    """The largest UTF-8 size whose estimate is guaranteed to be <= max_tokens."""
    return int(max_tokens * BYTES_PER_TOKEN)
