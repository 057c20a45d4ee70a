"""How a benchmark ends: with --json one JSON object with every figure, else the readable
table; the exit code says whether its targets held (0) or not (1)."""

from __future__ import annotations

import json
from typing import Any, Callable


def finish(result: dict[str, Any], as_json: bool, print_table: Callable[[dict[str, Any]], None]) -> int:
    if as_json:
        print(json.dumps(result))
    else:
        print_table(result)
    return 0 if result.get("ok", True) else 1
