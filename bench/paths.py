"""The one path rule's cost, on this interpreter's standard library, side by side.

    .venv/bin/python bench/paths.py [--repeat 3] [--json]

Measures, in one run with CPU time (time.process_time, best of --repeat):
- `PathRule.check(rel, SEND)` per path, over every file of the stdlib;
- `discover()` of the stdlib with the rule (what refute does) against the same discovery
  with the rule's per-file question answered by a no-op, so the ratio is the rule's share
  of discovery.
Prints a table; with --json one JSON object with the same figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sysconfig
import tempfile
import time
import timeit
from pathlib import Path

from refute.analysis import discover as discover_module
from refute.analysis.paths import PathRule, Purpose


def best_cpu(fn, repeat: int) -> float:
    return min(timeit.repeat(fn, number=1, repeat=repeat, timer=time.process_time))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    # A copy outside any git work tree (pyenv's stdlib sits inside its git clone, where
    # `git ls-files` lists nothing), of the stdlib's Python files.
    root = Path(tempfile.mkdtemp(prefix="refute-bench-paths-")) / "stdlib"
    shutil.copytree(stdlib, root, ignore=lambda d, names: [
        n for n in names if n in ("site-packages", "__pycache__") or (Path(d, n).is_file() and not n.endswith(".py"))])
    rels = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    rule = PathRule(root)

    def check_all() -> None:
        for rel in rels:
            rule.admits(rel, Purpose.SEND)

    per_path_us = best_cpu(check_all, args.repeat) / len(rels) * 1e6

    original = discover_module._refused
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}
    for label, hook in (("with rule", original), ("no-op rule", lambda rule, rel: None)):
        discover_module._refused = hook
        try:
            result = {}
            timings[label] = best_cpu(lambda: result.setdefault("d", discover_module.discover(root)), args.repeat)
            counts[label] = len(discover_module.discover(root).files)
        finally:
            discover_module._refused = original
    shutil.rmtree(root.parent, ignore_errors=True)
    figures = {
        "paths": len(rels), "check_us_per_path": round(per_path_us, 2),
        "discover_s_with_rule": round(timings["with rule"], 3), "discover_s_noop_rule": round(timings["no-op rule"], 3),
        "rule_share_of_discovery": round(1 - timings["no-op rule"] / timings["with rule"], 3),
        "files_with_rule": counts["with rule"], "files_noop_rule": counts["no-op rule"],
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"stdlib copy of {stdlib} ({len(rels):,} paths)")
    print(f"{'measure':<34} {'value':>12}")
    print(f"{'PathRule.check (SEND), per path':<34} {per_path_us:>10.1f} us")
    print(f"{'discover() with the rule':<34} {timings['with rule']:>11.3f} s")
    print(f"{'discover() with a no-op rule':<34} {timings['no-op rule']:>11.3f} s")
    print(f"{'rule share of discovery':<34} {figures['rule_share_of_discovery']:>12.1%}")
    print(f"{'files kept (rule / no-op)':<34} {counts['with rule']:>6} / {counts['no-op rule']}")


if __name__ == "__main__":
    main()
