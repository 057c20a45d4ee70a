"""Where the test corpora are: REFUTE_CORPORA, else the first `shared/corpora` folder
above this repository (../shared/corpora beside the repo, as on the build machines and
in CI). The corpora are test data, never shipped in the package."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def corpora_dir() -> Path:
    given = os.environ.get("REFUTE_CORPORA")
    if given:
        return Path(given)
    for parent in REPO.parents:
        candidate = parent / "shared" / "corpora"
        if candidate.is_dir():
            return candidate
    raise AssertionError("test corpora not found: set REFUTE_CORPORA or put them at ../shared/corpora "
                         "beside the repository")


def owasp_dir() -> Path:
    path = corpora_dir() / "owasp-benchmark-python"
    assert (path / "expectedresults-0.1.csv").is_file(), f"OWASP Benchmark Python not at {path}"
    return path
