"""What kind of file a discovered file is: code, tests, docs, data, config.

Audit and security look at source code by default. Discovery (discover.py) already
skips binary, vendored, generated, minified and lock files; this module sorts what is
left, so a plan can leave out docs, data and (unless asked) tests and list each with
its reason. Why: on sqlalchemy (922 files) a plan over everything gave 9,376 units,
among them .rst docs, changelogs and test-profile data files that no bug audit needs.

Contract: `exclusion_reason(path, language, include_tests=False) -> str | None`; None
means "audit this". Reasons start with a stable category ("docs", "data", "config",
"test", "not source code") followed by the detail in parentheses, so `plan` can group
them (`Skipped.category`). The rule reads only the path and the detected language: it
never opens the file, so it costs nothing next to discovery.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from refute.analysis.languages import TEXT

DOC_EXTENSIONS = frozenset(".md .markdown .rst .txt .adoc .asciidoc .rdoc .org .tex .man .1 .html .htm".split())
DATA_EXTENSIONS = frozenset(
    ".json .jsonl .ndjson .csv .tsv .xml .svg .yaml .yml .dat .txt.gz .po .pot .mo .sql.gz .log .prof".split())
CONFIG_EXTENSIONS = frozenset(".toml .ini .cfg .conf .properties .env.example .editorconfig .gitattributes".split())
# Text files that are programs although no grammar is bundled for them.
SCRIPT_EXTENSIONS = frozenset(".sh .bash .zsh .ps1 .pl .pm .sql .lua .swift .kt .scala .r .m".split())
DOC_NAMES = frozenset(
    "readme changelog changes history news authors contributors license licence copying notice "
    "todo install contributing code_of_conduct security".split())
TEST_DIRS = frozenset("test tests testing __tests__ spec specs testdata test_data fixtures e2e".split())


def is_test_path(path: str) -> bool:
    """Tests by the conventions of the bundled languages: a tests/ (spec/, __tests__/...)
    folder, or a name like test_x.py, x_test.py, x_test.go, x.test.ts, x.spec.js, XTest.java,
    conftest.py."""
    parts = PurePosixPath(path).parts
    if any(part.lower() in TEST_DIRS for part in parts[:-1]):
        return True
    name = parts[-1] if parts else path
    stem = name.split(".", 1)[0]
    lower = stem.lower()
    return (lower.startswith("test_") or lower.endswith("_test") or lower.endswith("_tests")
            or lower == "conftest" or ".test." in name or ".spec." in name
            or (stem.endswith("Test") and stem[:1].isupper()) or (stem.endswith("Tests") and stem[:1].isupper()))


def exclusion_reason(path: str, language: str, *, include_tests: bool = False) -> str | None:
    """Why a code audit leaves `path` out, or None to audit it (see the module docstring)."""
    pure = PurePosixPath(path)
    suffix = pure.suffix.lower()
    stem = pure.name.split(".", 1)[0].lower()
    if language == TEXT or not language:
        if suffix in SCRIPT_EXTENSIONS:
            return None if include_tests or not is_test_path(path) else "test (tests are left out unless asked)"
        if stem in DOC_NAMES or suffix in DOC_EXTENSIONS:
            return f"docs ({suffix or pure.name})"
        if suffix in DATA_EXTENSIONS:
            return f"data ({suffix})"
        if suffix in CONFIG_EXTENSIONS or pure.name.startswith("."):
            return f"config ({suffix or pure.name})"
        return f"not source code (no grammar for {suffix or pure.name})"
    if not include_tests and is_test_path(path):
        return "test (tests are left out unless asked: --arg include_tests=true)"
    return None
