"""plan_workspace: narrowing, selection, errors and the units cache."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from refute.analysis.plan import plan_workspace
from refute.analysis.units import split_text

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "languages"


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURES, root / "src")
    (root / "docs").mkdir()
    (root / "docs" / "guide.md").write_text("# Guide\n\nSome words.\n", encoding="utf-8")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02")
    return root


def test_plan_covers_every_kept_file(workspace, tmp_path):
    plan = plan_workspace(workspace, max_unit_tokens=60, cache_dir=tmp_path / "cache")
    assert {f.path for f in plan.files} == {f"src/{p.name}" for p in FIXTURES.iterdir()} | {"docs/guide.md"}
    assert [(s.path, s.reason) for s in plan.skipped] == [("blob.bin", "binary")]
    assert {u.path for u in plan.units} == {f.path for f in plan.files}
    assert plan.total_tokens == sum(u.tokens for u in plan.units)
    assert all(u.tokens <= 60 for u in plan.units)
    data = plan.to_dict()
    assert data["units"][0]["id"] == plan.units[0].id and data["skipped"] == [{"path": "blob.bin", "reason": "binary"}]


def test_paths_narrow_and_selection_keeps_overlapping_units(workspace, tmp_path):
    plan = plan_workspace(workspace, paths=["src/inventory.py"], max_unit_tokens=60, cache_dir=tmp_path / "c")
    assert {u.path for u in plan.units} == {"src/inventory.py"}
    selected = plan_workspace(workspace, paths=["src/inventory.py"], selection=(30, 31), max_unit_tokens=60,
                              cache_dir=tmp_path / "c")
    assert selected.units and all(u.start_line <= 31 and u.end_line >= 30 for u in selected.units)
    assert {u.symbol for u in selected.units} == {"Inventory.remove"}
    folder = plan_workspace(workspace, paths=["docs"], cache_dir=tmp_path / "c")
    assert [f.path for f in folder.files] == ["docs/guide.md"]


def test_bad_paths_and_selections_are_clear_errors(workspace, tmp_path):
    with pytest.raises(ValueError, match="outside the workspace"):
        plan_workspace(workspace, paths=[str(tmp_path)], cache_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="outside the workspace"):
        plan_workspace(workspace, paths=["../"], cache_dir=tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="no_such.py"):
        plan_workspace(workspace, paths=["no_such.py"], cache_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="exactly one file"):
        plan_workspace(workspace, paths=["src"], selection=(0, 3), cache_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="bad selection"):
        plan_workspace(workspace, paths=["src/cart.js"], selection=(5, 2), cache_dir=tmp_path / "c")
    with pytest.raises(NotADirectoryError):
        plan_workspace(workspace / "src" / "cart.js")


def test_explicitly_requested_ignored_file_is_reported(workspace, tmp_path):
    (workspace / ".refuteignore").write_text("docs/\n", encoding="utf-8")
    plan = plan_workspace(workspace, paths=["docs/guide.md"], cache_dir=tmp_path / "c")
    assert plan.files == [] and [s.reason for s in plan.skipped][0].startswith("ignored")


def _big_workspace(root: Path) -> None:
    body = "\n".join(f"    total = total + helper_{i}(value, {i})" for i in range(30))
    for index in range(60):
        functions = "\n\n".join(f"def helper_{index}_{j}(value):\n    total = 0\n{body}\n    return total\n"
                                for j in range(12))
        (root / f"module_{index}.py").write_text(f'"""Module {index}."""\nimport os\n\n{functions}', encoding="utf-8")


def test_second_plan_of_an_unchanged_tree_reuses_the_cache_and_is_faster(tmp_path):
    root = tmp_path / "big"
    root.mkdir()
    _big_workspace(root)
    cold_start = time.process_time()  # CPU time: other processes on the machine do not count
    first = plan_workspace(root, max_unit_tokens=300)
    cold = time.process_time() - cold_start
    warm_start = time.process_time()
    second = plan_workspace(root, max_unit_tokens=300)
    warm = time.process_time() - warm_start
    assert (root / ".refute" / "state" / "cache").is_dir()  # the default place
    assert first.cache_misses == 60 and second.cache_hits == 60 and second.cache_misses == 0
    assert [u.to_dict() for u in second.units] == [u.to_dict() for u in first.units]
    assert warm * 3 < cold, f"warm {warm:.3f}s vs cold {cold:.3f}s"

    # An edited file is split again; its neighbours come from the cache.
    (root / "module_3.py").write_text("def changed():\n    return 1\n", encoding="utf-8")
    third = plan_workspace(root, max_unit_tokens=300)
    assert third.cache_misses == 1 and third.cache_hits == 59
    assert [u.text for u in third.units_for("module_3.py")] == ["def changed():\n    return 1"]
    # A different budget is a different key.
    assert plan_workspace(root, max_unit_tokens=200).cache_misses == 60


def test_unwritable_cache_still_plans(workspace, tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x", encoding="utf-8")
    plan = plan_workspace(workspace, paths=["src/cart.js"], cache_dir=blocker / "cache")
    assert [u.path for u in plan.units] == ["src/cart.js"] and plan.cache_hits == 0


def test_cached_units_equal_fresh_units(workspace, tmp_path):
    plan_workspace(workspace, max_unit_tokens=60, cache_dir=tmp_path / "c")
    cached = plan_workspace(workspace, max_unit_tokens=60, cache_dir=tmp_path / "c")
    text = (workspace / "src" / "queue.go").read_text(encoding="utf-8")
    assert cached.units_for("src/queue.go") == split_text("src/queue.go", text, "go", 60)
