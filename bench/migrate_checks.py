"""What do a migration's checks cost? Measured side by side in one run, on real code.

The corpus: every module of this venv's pip (pip/_internal) that declares
`logger = logging.getLogger(__name__)`, copied into a fresh git repository, each given
the migration's edit (that line -> pip's own getLogger, import included).

Rows, per file (median over the files, each timed once per round, ROUNDS rounds):
- parse only: one tree-sitter parse of the file (the floor);
- mechanical check: check_edit() (applies the replacement once, composes, parses before
  and after, compares error nodes): what runs before any reviewer is paid;
- project check, worktree: ProjectChecker.run() with the command `true {files}`: git
  worktree add + write the file + run + worktree remove: the fixed cost of `--check`;
- project check, in place: the same command run directly in the repository (what the
  worktree's isolation costs on top).
Ratios are against parse only and against the in-place command.

    .venv/bin/python bench/migrate_checks.py [--files 32] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pip

from refute.analysis import languages
from refute.orchestration.verification.mechanical import check_edit
from refute.orchestration.verification.project_check import CheckConfig, ProjectChecker

PATTERN = "logger = logging.getLogger(__name__)"
NEW = "from pip._internal.utils.logging import getLogger\n\nlogger = getLogger(__name__)"


def make_repo(target: Path, limit: int) -> list[str]:
    root = Path(pip.__file__).parent.parent
    rels = []
    for path in sorted((root / "pip" / "_internal").rglob("*.py")):
        text = path.read_text("utf-8")
        if PATTERN in text and text.count(PATTERN) == 1:
            rel = path.relative_to(root).as_posix()
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / rel)
            rels.append(rel)
            if len(rels) == limit:
                break
    for cmd in (["init", "-q"], ["add", "-A"], ["-c", "user.email=b@e", "-c", "user.name=b", "commit", "-qm", "copy"]):
        subprocess.run(["git", *cmd], cwd=target, check=True)
    return rels


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="refute-bench-migrate-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        rels = make_repo(repo, args.files)
        texts = {rel: (repo / rel).read_text("utf-8") for rel in rels}
        lines = sum(t.count("\n") for t in texts.values())
        checker = ProjectChecker(repo, Path(tmp) / "state", "bench", CheckConfig("true {files}", 60))
        samples: dict[str, list[float]] = {"parse": [], "mechanical": [], "worktree": [], "in_place": []}
        for _ in range(args.rounds):
            for rel in rels:  # the four measurements of one file back to back: same machine state
                data = texts[rel].encode()
                samples["parse"].append(timed(lambda: languages.parse("python", data)))
                result: dict = {}
                samples["mechanical"].append(timed(lambda: result.update(
                    check_edit(repo, rel, [{"old": PATTERN, "new": NEW}]))))
                assert result["ok"], result
                samples["worktree"].append(timed(lambda: checker.run({rel: result["new_text"]})))
                samples["in_place"].append(timed(lambda: subprocess.run(["/bin/sh", "-c", f"true {rel}"], cwd=repo)))
    med = {k: statistics.median(v) for k, v in samples.items()}
    figures = {
        "files": len(rels), "lines": lines, "rounds": args.rounds,
        "parse_ms": round(med["parse"] * 1000, 3),
        "mechanical_check_ms": round(med["mechanical"] * 1000, 3),
        "worktree_check_ms": round(med["worktree"] * 1000, 1),
        "in_place_check_ms": round(med["in_place"] * 1000, 1),
        "mechanical_vs_parse": round(med["mechanical"] / med["parse"], 2),
        "worktree_vs_in_place": round(med["worktree"] / med["in_place"], 1),
    }
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"migration checks on {figures['files']} pip modules ({lines:,} lines), median per file, "
          f"{args.rounds} rounds")
    print(f"{'what':<34}{'ms per file':>14}{'ratio':>10}")
    print(f"{'tree-sitter parse only':<34}{figures['parse_ms']:>14.3f}{1.0:>10.2f}")
    print(f"{'mechanical check (check_edit)':<34}{figures['mechanical_check_ms']:>14.3f}"
          f"{figures['mechanical_vs_parse']:>10.2f}")
    print(f"{'project check `true`, in place':<34}{figures['in_place_check_ms']:>14.1f}{1.0:>10.2f}")
    print(f"{'project check `true`, worktree':<34}{figures['worktree_check_ms']:>14.1f}"
          f"{figures['worktree_vs_in_place']:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
