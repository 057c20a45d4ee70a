"""Corpora with known truth: the OWASP Benchmark for Python, and a generic folder + truth file.

A corpus is a folder of code plus its truth: a list of `Case`s. A case says "flagging
weakness CWE in this file (optionally: at these lines) is right" (`vulnerable=True`) or
"... is a false alarm" (`vulnerable=False`, a deliberate look-alike). Two readers:

- OWASP Benchmark for Python (`expectedresults-*.csv` beside `testcode/`): one case per
  file, file-level truth, 14 categories; 1,243 cases of which 457 are vulnerable.
- The generic format (docs/eval.md): a folder and a truth file `truth.csv` at its top
  (or any file given with `--truth`), with a header row and the columns
  `path,cwe,vulnerable[,category][,lines]`: `path` is relative to the folder, `cwe` like
  `CWE-89` or `89`, `vulnerable` true/false (also yes/no, 1/0), `category` any label
  (default: the CWE), `lines` 1-based and inclusive, `12` or `12-14`, several joined by
  `;` (empty: the whole file). A path may have several rows (two weaknesses, or a
  vulnerable and a safe spot of one CWE at different lines).

Invariant: the truth never reaches a model. `Corpus.hidden` names the files the eval
workspace must not contain (the truth file, other tools' SARIF, the corpus's own notes),
and `prepare_workspace` (harness.py) copies everything else. Bad truth files fail with the
file and line that is wrong.
"""

from __future__ import annotations

import csv
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

from refute.orchestration.errors import InvalidInput

GENERIC_TRUTH = "truth.csv"
OWASP_CATEGORY_CWE = {
    "pathtraver": "22", "sqli": "89", "xss": "79", "cmdi": "78", "codeinj": "94", "deserialization": "502",
    "hash": "328", "ldapi": "90", "redirect": "601", "securecookie": "614", "trustbound": "501",
    "weakrand": "330", "xpathi": "643", "xxe": "611",
}
_TRUE = {"true", "yes", "1", "y", "t"}
_FALSE = {"false", "no", "0", "n", "f"}


class CorpusError(InvalidInput):
    """The corpus or its truth file is unusable; the message names the file and line."""


def normalise_cwe(value: Any) -> str | None:
    """'CWE-89', 'cwe-089', '89', 89 -> '89'; anything without a number -> None."""
    if value is None:
        return None
    match = re.search(r"(\d+)", str(value))
    return str(int(match.group(1))) if match else None


@dataclass(frozen=True)
class Case:
    id: str  # unique in the corpus: the OWASP test name, or path#cwe[@lines]
    path: str  # corpus-relative POSIX path
    cwe: str  # normalised: digits only
    vulnerable: bool
    category: str
    lines: tuple[tuple[int, int], ...] = ()  # 1-based inclusive ranges; () = the whole file

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lines"] = [list(r) for r in self.lines]
        return d


@dataclass
class Corpus:
    root: Path
    name: str
    kind: str  # "owasp-benchmark-python" | "generic"
    cases: list[Case]
    truth_file: Path
    hidden: set[str] = field(default_factory=set)  # corpus-relative paths never copied into the eval workspace

    @property
    def categories(self) -> list[str]:
        return sorted({c.category for c in self.cases})

    def case_paths(self, cases: Iterable[Case] | None = None) -> list[str]:
        return sorted({c.path for c in (self.cases if cases is None else cases)})


def load_corpus(path: str | Path, truth: str | Path | None = None) -> Corpus:
    """Read a corpus: OWASP Benchmark Python when it looks like one, else the generic format."""
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise CorpusError(f"corpus {path}: not a folder")
    if truth is not None:
        truth_path = Path(truth).expanduser().resolve()
        if not truth_path.is_file():
            raise CorpusError(f"truth file {truth}: not found")
        return read_generic(root, truth_path)
    owasp = sorted(root.glob("expectedresults-*.csv"))
    if owasp and (root / "testcode").is_dir():
        return read_owasp(root, owasp[-1])
    if (root / GENERIC_TRUTH).is_file():
        return read_generic(root, root / GENERIC_TRUTH)
    raise CorpusError(f"corpus {path}: no truth found: expected {GENERIC_TRUTH} at its top (format in docs/eval.md), "
                      "an OWASP Benchmark folder (expectedresults-*.csv and testcode/), or --truth FILE")


def read_owasp(root: Path, truth_path: Path) -> Corpus:
    """OWASP Benchmark for Python: `name, category, real vulnerability, cwe` per line."""
    cases: list[Case] = []
    with truth_path.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0].lstrip().startswith("#"):
                continue
            where = f"{truth_path.name}:{number}"
            if len(row) < 4:
                raise CorpusError(f"{where}: expected 'name, category, real vulnerability, cwe', got {row!r}")
            name, category, real, cwe = (cell.strip() for cell in row[:4])
            rel = f"testcode/{name}.py"
            if not (root / rel).is_file():
                raise CorpusError(f"{where}: {rel} is not in the corpus")
            cases.append(Case(id=name, path=rel, cwe=_cwe(cwe, where), vulnerable=_bool(real, where),
                              category=category))
    if not cases:
        raise CorpusError(f"{truth_path}: no cases")
    hidden = {p.relative_to(root).as_posix() for p in root.glob("expectedresults-*.csv")}
    hidden |= {"SOURCE.md", "LICENSE", "README.md"}
    hidden |= {p.relative_to(root).as_posix() for p in root.rglob("*.sarif")}
    hidden |= {p.relative_to(root).as_posix() for p in (root / "results").rglob("*") if p.is_file()} \
        if (root / "results").is_dir() else set()
    return Corpus(root=root, name=root.name, kind="owasp-benchmark-python", cases=cases, truth_file=truth_path,
                  hidden=hidden)


def read_generic(root: Path, truth_path: Path) -> Corpus:
    cases: list[Case] = []
    seen: set[str] = set()
    with truth_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header: list[str] | None = None
        for number, row in enumerate(reader, start=1):
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            where = f"{truth_path.name}:{number}"
            if header is None:
                header = [cell.strip().lower() for cell in row]
                missing = [c for c in ("path", "cwe", "vulnerable") if c not in header]
                if missing:
                    raise CorpusError(f"{where}: the header must name path, cwe, vulnerable "
                                      f"(and optionally category, lines); missing {', '.join(missing)}")
                continue
            cells = dict(zip(header, (cell.strip() for cell in row)))
            rel = _relative(cells.get("path", ""), where)
            if not (root / rel).is_file():
                raise CorpusError(f"{where}: {rel} is not a file in {root}")
            cwe = _cwe(cells.get("cwe", ""), where)
            lines = parse_lines(cells.get("lines", ""), where)
            case_id = f"{rel}#CWE-{cwe}" + (f"@{cells['lines']}" if lines else "")
            if case_id in seen:
                raise CorpusError(f"{where}: {case_id} is given twice")
            seen.add(case_id)
            cases.append(Case(id=case_id, path=rel, cwe=cwe, vulnerable=_bool(cells.get("vulnerable", ""), where),
                              category=cells.get("category") or f"CWE-{cwe}", lines=lines))
    if not cases:
        raise CorpusError(f"{truth_path}: no cases (a header row, then one row per case)")
    hidden = {p.relative_to(root).as_posix() for p in root.rglob("*.sarif")}
    try:
        hidden.add(truth_path.relative_to(root).as_posix())
    except ValueError:
        pass  # a truth file outside the corpus is not copied anyway
    return Corpus(root=root, name=root.name, kind="generic", cases=cases, truth_file=truth_path, hidden=hidden)


def parse_lines(text: str, where: str = "lines") -> tuple[tuple[int, int], ...]:
    """'12', '12-14', '3;12-14' -> ((12, 12), (12, 14)) ...; '' -> () (the whole file)."""
    ranges = []
    for part in (p.strip() for p in (text or "").split(";")):
        if not part:
            continue
        match = re.fullmatch(r"(\d+)\s*(?:-\s*(\d+))?", part)
        if not match:
            raise CorpusError(f"{where}: lines {part!r}: use 12 or 12-14, several joined by ';'")
        start, end = int(match.group(1)), int(match.group(2) or match.group(1))
        if start < 1 or end < start:
            raise CorpusError(f"{where}: lines {part!r}: 1-based, start <= end")
        ranges.append((start, end))
    return tuple(ranges)


def _relative(text: str, where: str) -> str:
    path = PurePosixPath(text.replace("\\", "/"))
    if not text or path.is_absolute() or ".." in path.parts:
        raise CorpusError(f"{where}: path {text!r} must be relative to the corpus folder, without '..'")
    return path.as_posix()


def _cwe(text: str, where: str) -> str:
    cwe = normalise_cwe(text)
    if cwe is None:
        raise CorpusError(f"{where}: cwe {text!r}: give a CWE id such as CWE-89 or 89")
    return cwe


def _bool(text: str, where: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CorpusError(f"{where}: vulnerable {text!r}: use true or false")
