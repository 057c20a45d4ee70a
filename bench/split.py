"""Work-unit splitting on this interpreter's standard library, measured side by side.

    .venv/bin/python bench/split.py [--limit N] [--max-unit-tokens 8000] [--repeat 1]

The default limit is the engine's unit budget (settings.max_unit_tokens, 8,000: per-file
units, split only above it); --max-unit-tokens 1500 gives the old function-sized units.

Prints, for refute's splitter: throughput (MB/s), its ratio to tree-sitter parse-only
throughput measured in the same run, non-whitespace coverage, and p50/p95/max unit size
(estimated tokens) against the limit. When astchunk and llama-index-core are importable,
their coverage and throughput ratios on the same files are printed next to it.

Timing: each file is parsed and split back to back (interleaved), with CPU time
(time.process_time), best of --repeat, so other processes on a shared machine disturb
the ratios as little as possible.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import sysconfig
import time
import timeit
from pathlib import Path
from typing import Callable

from refute.analysis.languages import parser_for
from refute.analysis.tokens import BYTES_PER_TOKEN
from refute.analysis.units import split_text
from refute.orchestration.settings import EngineSettings

def non_ws(text: str) -> str:
    return "".join(text.split())


def load_stdlib(limit: int | None) -> tuple[list[tuple[str, str]], int]:
    """(relative path, text) of the stdlib's .py files, and how many were not UTF-8."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts and p.is_file())
    out: list[tuple[str, str]] = []
    not_utf8 = 0
    for path in files:
        try:
            out.append((str(path.relative_to(root)), path.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, OSError):
            not_utf8 += 1  # a handful of test files are deliberately not UTF-8
            continue
        if limit and len(out) >= limit:
            break
    return out, not_utf8


def best_time(fn: Callable[[], object], repeat: int) -> float:
    return min(timeit.repeat(fn, number=1, repeat=repeat, timer=time.process_time))


def covered_fraction(text: str, chunks: list[str]) -> float:
    """Share of the file's non-whitespace characters found, in order, inside the chunks
    (chunks are located left to right; an altered or missing chunk covers nothing)."""
    total = len(non_ws(text))
    if total == 0:
        return 1.0
    covered = 0
    pos = 0
    for chunk in chunks:
        stripped = chunk.strip()
        if not stripped:
            continue
        index = text.find(stripped, pos)
        if index < 0:
            index = text.find(stripped)
            if index < 0:
                continue
        covered += len(non_ws(text[max(index, pos):index + len(stripped)]))
        pos = max(pos, index + len(stripped))
    return min(covered, total) / total


def percentile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="only the first N files")
    parser.add_argument("--max-unit-tokens", type=int, default=EngineSettings().max_unit_tokens)
    parser.add_argument("--repeat", type=int, default=1, help="best of N timings per file")
    parser.add_argument("--no-compare", action="store_true", help="skip astchunk and llama-index even if installed")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the same figures (the table goes to stderr)")
    args = parser.parse_args(argv)
    say = functools.partial(print, file=sys.stderr if args.json else sys.stdout)

    files, not_utf8 = load_stdlib(args.limit)
    total_bytes = sum(len(text.encode("utf-8")) for _, text in files)
    mb = total_bytes / 1e6
    say(f"corpus: {len(files)} .py files, {mb:.1f} MB from {sysconfig.get_paths()['stdlib']}"
          f" ({not_utf8} more left out: not UTF-8)")
    say(f"limit: {args.max_unit_tokens} tokens per unit\n")

    ts_parser = parser_for("python")
    assert ts_parser is not None

    competitors: dict[str, Callable[[str], list[str]]] = {}
    max_bytes = int(args.max_unit_tokens * BYTES_PER_TOKEN)
    try:
        if args.no_compare:
            raise ImportError
        from astchunk.astchunk_builder import ASTChunkBuilder

        # astchunk counts non-whitespace characters; about 3/4 of a code byte budget.
        builder = ASTChunkBuilder(max_chunk_size=int(max_bytes * 0.75), language="python",
                                  metadata_template="default")
        competitors["astchunk"] = lambda text: [w["content"] for w in builder.chunkify(text)]
    except ImportError:
        say("astchunk: not compared" + ("" if args.no_compare else " (not installed: pip install astchunk)"))
    try:
        if args.no_compare:
            raise ImportError
        from llama_index.core.node_parser import CodeSplitter

        splitter = CodeSplitter(language="python", parser=parser_for("python"), max_chars=max_bytes)
        competitors["llama-index CodeSplitter"] = splitter.split_text
    except ImportError:
        say("llama-index-core: not compared"
              + ("" if args.no_compare else " (not installed: pip install llama-index-core)"))

    parse_time = 0.0
    split_time = 0.0
    other_time = {name: 0.0 for name in competitors}
    other_cov = {name: [0.0, 0] for name in competitors}  # covered chars, total chars
    other_fail = {name: 0 for name in competitors}
    sizes: list[int] = []
    over_limit = 0
    covered = total_nws = 0
    exact_files = 0
    for path, text in files:
        data = text.encode("utf-8")
        parse_time += best_time(lambda: ts_parser.parse(data), args.repeat)
        result: list = []
        split_time += best_time(lambda: result.append(split_text(path, text, "python", args.max_unit_tokens)),
                                args.repeat)
        units = result[-1]
        # Coverage: units are disjoint slices of the file, in order, and together hold
        # every non-whitespace character.
        nws_file = non_ws(text)
        nws_units = "".join(non_ws(u.text) for u in units)
        ok = nws_units == nws_file and all(data[u.start_byte:u.end_byte].decode() == u.text for u in units) \
            and all(a.end_byte <= b.start_byte for a, b in zip(units, units[1:]))
        total_nws += len(nws_file)
        covered += len(nws_file) if ok else covered_fraction(text, [u.text for u in units]) * len(nws_file)
        exact_files += ok
        for unit in units:
            sizes.append(unit.tokens)
            over_limit += unit.tokens > args.max_unit_tokens
        for name, fn in competitors.items():
            out: list = []
            try:
                other_time[name] += best_time(lambda: out.append(fn(text)), args.repeat)
            except Exception:  # a competitor failing on a file counts as covering nothing
                other_fail[name] += 1
                other_cov[name][1] += len(nws_file)
                continue
            other_cov[name][0] += covered_fraction(text, out[-1]) * len(nws_file)
            other_cov[name][1] += len(nws_file)

    parse_mbs = mb / parse_time
    split_mbs = mb / split_time
    say(f"tree-sitter parse only : {parse_mbs:7.2f} MB/s")
    say(f"refute split_text      : {split_mbs:7.2f} MB/s  = {split_mbs / parse_mbs:.2f}x parse-only "
          f"(target >= 0.80x)")
    say(f"  coverage (non-whitespace): {100.0 * covered / max(total_nws, 1):.2f}%  "
          f"({exact_files}/{len(files)} files exact)")
    say(f"  units: {len(sizes)}  tokens p50 {percentile(sizes, 0.5)}  p95 {percentile(sizes, 0.95)}  "
          f"max {max(sizes)}  limit {args.max_unit_tokens}  over limit: {over_limit}")
    for name in competitors:
        mbs = mb / other_time[name] if other_time[name] else float("nan")
        cov_done, cov_total = other_cov[name]
        say(f"{name:23}: {mbs:7.2f} MB/s  = {mbs / parse_mbs:.2f}x parse-only; refute is "
              f"{split_mbs / mbs:.2f}x faster; coverage {100.0 * cov_done / max(cov_total, 1):.2f}%"
              + (f"; failed on {other_fail[name]} files" if other_fail[name] else ""))
    ok = covered == total_nws and over_limit == 0
    if args.json:
        others = {}
        for name in competitors:
            mbs = mb / other_time[name] if other_time[name] else None
            cov_done, cov_total = other_cov[name]
            others[name] = {"mb_per_s": mbs, "vs_parse": mbs / parse_mbs if mbs else None,
                            "refute_speedup": split_mbs / mbs if mbs else None,
                            "coverage": cov_done / max(cov_total, 1), "failed_files": other_fail[name]}
        print(json.dumps({"files": len(files), "mb": mb, "max_unit_tokens": args.max_unit_tokens,
                          "parse_mb_per_s": parse_mbs, "split_mb_per_s": split_mbs, "split_vs_parse": split_mbs / parse_mbs,
                          "coverage": covered / max(total_nws, 1), "exact_files": exact_files, "units": len(sizes),
                          "tokens_p50": percentile(sizes, 0.5), "tokens_p95": percentile(sizes, 0.95),
                          "tokens_max": max(sizes), "over_limit": over_limit, "compared": others, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
