"""Per-file units, code-only scopes with reasons, --since on a real git history, components."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from refute.analysis.changes import WHOLE_FILE, ChangesError, changed_since
from refute.analysis.components import group_components
from refute.analysis.plan import plan_workspace
from refute.analysis.source_kinds import exclusion_reason, is_test_path
from refute.analysis.units import split_text


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                          check=True, capture_output=True, text=True).stdout


def test_a_file_within_the_unit_budget_is_one_unit_and_a_larger_one_splits_along_definitions():
    ten = "\n\n".join(f"def f{i}(x):\n    y = x + {i}\n    return y * 2\n" for i in range(10))
    assert len(split_text("ten.py", ten, "python")) == 1  # ten small functions: one finder call, not ten
    big = "\n\n".join(f"def g{i}(x):\n" + "".join(f"    v{j} = x + {j}\n" for j in range(60)) + "    return x\n"
                      for i in range(40))
    units = split_text("big.py", big, "python", max_tokens=8000)
    assert len(units) > 1 and all(u.tokens <= 8000 for u in units)
    assert all(u.text.lstrip().startswith("def g") for u in units)  # cut between definitions


@pytest.mark.parametrize("path, language, reason", [
    ("docs/index.rst", "text", "docs"), ("CHANGELOG", "text", "docs"), ("README.md", "text", "docs"),
    ("test/profiles.txt", "text", "docs"), ("data/users.csv", "text", "data"), ("config/app.yaml", "text", "data"),
    ("setup.cfg", "text", "config"), ("tests/test_app.py", "python", "test"), ("pkg/app_test.go", "go", "test"),
    ("web/app.spec.ts", "typescript", "test"), ("conftest.py", "python", "test"),
    ("src/FooTest.java", "java", "test"), ("src/app.py", "python", None), ("scripts/deploy.sh", "text", None),
    ("src/latest.py", "python", None), ("src/contest.py", "python", None),
])
def test_code_only_reasons(path, language, reason):
    got = exclusion_reason(path, language)
    assert (got.split(" ", 1)[0] if got else None) == reason, got


def test_tests_are_kept_when_asked():
    assert exclusion_reason("tests/test_app.py", "python", include_tests=True) is None
    assert is_test_path("a/__tests__/x.js") and not is_test_path("attestation/x.py")


def test_plan_lists_what_a_code_only_scope_leaves_out(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def main():\n    return 1\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_app.py").write_text("def test_main():\n    assert True\n")
    (tmp_path / "README.md").write_text("# app\n")
    (tmp_path / "data.json").write_text("{}\n")
    plan = plan_workspace(tmp_path, code_only=True, use_cache=False)
    assert [u.path for u in plan.units] == ["src/app.py"]
    reasons = {s.path: s.category for s in plan.skipped}
    assert reasons == {"README.md": "docs", "data.json": "data", "tests/test_app.py": "test"}
    with_tests = plan_workspace(tmp_path, code_only=True, include_tests=True, use_cache=False)
    assert sorted(u.path for u in with_tests.units) == ["src/app.py", "tests/test_app.py"]


@pytest.fixture
def history(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    body = "\n\n".join(f"def f{i}(x):\n" + "".join(f"    v{j} = x * {j}\n" for j in range(40)) + "    return x\n"
                       for i in range(6))
    (repo / "big.py").write_text(body)
    (repo / "same.py").write_text("def same():\n    return 1\n")
    (repo / "gone.py").write_text("def gone():\n    return 2\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    git(repo, "tag", "base")
    lines = body.splitlines()
    lines[lines.index("def f4(x):") + 3] = "    v2 = x * 200  # changed"
    (repo / "big.py").write_text("\n".join(lines) + "\n")
    git(repo, "rm", "-q", "gone.py")
    git(repo, "commit", "-qam", "change f4, delete gone.py")
    (repo / "new.py").write_text("def new():\n    return 3\n")  # untracked, not ignored
    return repo


def test_changed_since_names_changed_lines_new_files_and_not_deleted_or_unchanged_ones(history):
    changes = changed_since(history, "base")
    assert set(changes) == {"big.py", "new.py"}
    assert changes["new.py"] == WHOLE_FILE
    [(start, end)] = changes["big.py"]
    assert start == end and history.joinpath("big.py").read_text().splitlines()[start].endswith("# changed")


def test_since_keeps_only_units_covering_changed_lines(history):
    plan = plan_workspace(history, since="base", max_unit_tokens=300, use_cache=False)
    assert {u.path for u in plan.units} == {"big.py", "new.py"}
    big_units = [u for u in plan.units if u.path == "big.py"]
    assert len(big_units) == 1 and "f4" in big_units[0].symbol  # one of the six functions
    assert any(s.path == "same.py" and s.reason == "unchanged since base" for s in plan.skipped)


def test_since_explains_a_bad_ref_and_a_folder_without_git(history, tmp_path):
    with pytest.raises(ChangesError, match="no such commit"):
        changed_since(history, "no-such-branch")
    with pytest.raises(ChangesError, match="a git ref"):
        changed_since(history, "--output=/tmp/x")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ChangesError, match="not one"):
        changed_since(plain, "HEAD")


def test_components_group_by_directory_and_language_and_cover_every_unit_once():
    units = []
    for directory, count in (("app/api", 30), ("app/models", 3), ("app/util", 2), ("web", 2)):
        for i in range(count):
            language = "javascript" if directory == "web" else "python"
            units.append({"id": f"{directory}/{i}", "path": f"{directory}/m{i:02}.py", "language": language,
                          "tokens": 500, "text": f"x = {i}\n", "content_hash": f"h{i}", "start_line": 0})
    components = group_components(units, max_tokens=6000)
    seen = [uid for c in components for uid in c.unit_ids]
    assert sorted(seen) == sorted(u["id"] for u in units)  # every unit exactly once
    assert all(c.tokens <= 6000 and len(c.paths) <= 25 for c in components)
    assert all(len({u["language"] for u in units if u["path"] in c.paths}) == 1 for c in components)
    api = [c for c in components if any(p.startswith("app/api/") for p in c.paths)]
    assert [sum(p.startswith("app/api/") for p in c.paths) for c in api] == [12, 12, 6]  # 500 tokens each, 6,000 max
    merged = [c for c in components if set(c.paths) & {"app/models/m00.py", "app/util/m00.py"}]
    # The small tail of app/api and the small sibling packages become one component under app/.
    assert len(merged) == 1 and merged[0].path == "app" and len(merged[0].paths) == 11
    assert '<file path="app/models/m00.py">' in merged[0].text
