"""The one path rule (refute.analysis.paths), checked over generated paths: `..` chains,
absolute paths, symlink chains and swaps, unicode, refused folders. Whatever the path,
an admitted one resolves inside the workspace and is never under .git/.hg/.svn or
.refute/, never secret-looking for SEND or WRITE, and never tool config for WRITE
without the flag. An independent oracle (os.path.realpath) says what is inside."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refute.analysis.paths import PathRefused, PathRule, Purpose, is_secret_path, is_tool_config

PARTS = ["a.py", "src", "b.py", "..", ".", ".git", "config", "hooks", ".refute", "workflows", ".env",
         ".env.production", "id_rsa", "link_out", "link_env", "link_git", "l1", "l2", "link_in", "ü", "ç.py",
         ".github", "workflows", "ci.yml", ".envrc", "swap.py", "", ".hg", ".svn", "prod.env", "creds",
         "credentials.json", "deploy", "\u202e", "a b.py", ".ssh", "known_hosts", ".ENV"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    base = tmp_path_factory.mktemp("rule")
    root, outside = base / "ws", base / "outside"
    for d in ("src", ".git/hooks", ".refute/workflows", "ü", ".github/workflows", "deploy", ".ssh", ".hg", ".svn"):
        (root / d).mkdir(parents=True, exist_ok=True)
    outside.mkdir()
    for f in ("a.py", "src/b.py", ".env", ".env.production", "id_rsa", ".git/config", ".git/hooks/pre-commit",
              ".refute/dismissed.json", ".refute/workflows/audit.py", "ü/ç.py", ".github/workflows/ci.yml",
              ".envrc", "deploy/prod.env", "credentials.json", "a b.py", ".ssh/known_hosts", "swap.py"):
        (root / f).write_text("x = 1\n")
    (outside / "a.py").write_text("secret = 1\n")
    (root / "link_out").symlink_to(outside, target_is_directory=True)
    (root / "link_env").symlink_to(root / ".env")
    (root / "link_git").symlink_to(root / ".git", target_is_directory=True)
    (root / "l2").symlink_to(outside, target_is_directory=True)
    (root / "l1").symlink_to(root / "l2", target_is_directory=True)  # a chain that ends outside
    (root / "link_in").symlink_to(root / "src", target_is_directory=True)
    (root / "creds").symlink_to(root / "credentials.json")
    return root, outside


def _oracle_inside(root: Path, candidate: str) -> bool:
    real = os.path.realpath(candidate if os.path.isabs(candidate) else os.path.join(root, candidate))
    real_root = os.path.realpath(root)
    return real == real_root or real.startswith(real_root + os.sep)


def _assert_invariants(rule: PathRule, root: Path, raw: str, purpose: Purpose) -> None:
    try:
        admitted = rule.check(raw, purpose)
    except PathRefused as exc:
        assert exc.reason in {"empty", "outside", "parent", "vcs", "refute", "secret", "tool-config"}
        return
    assert _oracle_inside(root, raw), raw
    real = os.path.realpath(admitted.path)
    assert real == str(admitted.path)
    rel = admitted.rel
    if purpose is Purpose.LOCATE:
        return  # LOCATE only names a file (an editor's buffer): inside is all it promises
    parts = PurePosixPath(rel).parts
    assert not {".git", ".hg", ".svn"} & set(parts), (raw, rel)
    assert not parts or parts[0] != ".refute", (raw, rel)
    # The path as given must not name a refused place either (a link *into* one is refused).
    given_parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".")]
    assert ".." not in given_parts or os.path.isabs(raw)
    if purpose in (Purpose.SEND, Purpose.WRITE) and rel != ".":
        assert not is_secret_path(rel), (raw, rel)
        if not os.path.isabs(raw):
            assert not is_secret_path("/".join(given_parts)), raw
    if purpose is Purpose.WRITE and rel != ".":
        assert not is_tool_config(rel), (raw, rel)


paths = st.lists(st.sampled_from(PARTS), min_size=0, max_size=6).map("/".join)


@settings(max_examples=400)
@given(path=paths, absolute=st.booleans(), purpose=st.sampled_from(list(Purpose)))
def test_the_rule_never_admits_an_outside_refused_or_secret_path(tree, path, absolute, purpose):
    root, _ = tree
    raw = str(root / path) if absolute else path
    _assert_invariants(PathRule(root), root, raw, purpose)


@settings(max_examples=200)
@given(path=paths, purpose=st.sampled_from(list(Purpose)))
def test_paths_named_from_outside_the_workspace_are_refused(tree, path, purpose):
    root, outside = tree
    raw = str(outside / path)
    if _oracle_inside(root, raw):
        return  # e.g. outside/.. chains that come back in: the first property covers them
    with pytest.raises(PathRefused):
        PathRule(root).check(raw, purpose)


@settings(max_examples=100)
@given(target=st.sampled_from(["outside", ".git/config", ".env", ".refute/dismissed.json", "src/b.py",
                               ".github/workflows/ci.yml"]),
       purpose=st.sampled_from(list(Purpose)))
def test_a_symlink_swapped_in_after_a_check_is_judged_at_the_next_check(tree, target, purpose):
    root, outside = tree
    swap = root / "swap.py"
    try:
        swap.unlink()
        destination = outside / "a.py" if target == "outside" else root / target
        swap.symlink_to(destination)
        _assert_invariants(PathRule(root), root, "swap.py", purpose)
        refused_from = {"outside": Purpose.LOCATE, ".git/config": Purpose.READ, ".refute/dismissed.json": Purpose.READ,
                        ".env": Purpose.SEND, ".github/workflows/ci.yml": Purpose.WRITE}.get(target)
        order = list(Purpose)
        if refused_from is not None and order.index(purpose) >= order.index(refused_from):
            with pytest.raises(PathRefused):
                PathRule(root).check("swap.py", purpose)
        else:
            PathRule(root).check("swap.py", purpose)
    finally:
        if swap.is_symlink() or swap.exists():
            swap.unlink()
        swap.write_text("x = 1\n")


@given(name=st.text(min_size=1, max_size=12).filter(lambda s: "/" not in s and "\x00" not in s))
@settings(max_examples=200)
def test_unicode_and_odd_names_never_escape(tree, name):
    root, _ = tree
    for raw in (name, f"src/{name}", f"../{name}", f"link_out/{name}", f"l1/{name}"):
        for purpose in Purpose:
            _assert_invariants(PathRule(root), root, raw, purpose)


def test_the_allow_flag_admits_exactly_the_named_tool_config(tree):
    root, _ = tree
    with pytest.raises(PathRefused) as refused:
        PathRule(root).check(".github/workflows/ci.yml", Purpose.WRITE)
    assert refused.value.reason == "tool-config"
    rule = PathRule(root, allow_tool_config=[".github/workflows/ci.yml"])
    assert rule.check(".github/workflows/ci.yml", Purpose.WRITE).rel == ".github/workflows/ci.yml"
    with pytest.raises(PathRefused):
        rule.check(".envrc", Purpose.WRITE)
    with pytest.raises(PathRefused):  # the flag never opens .git/
        PathRule(root, allow_tool_config=[".git/config"]).check(".git/config", Purpose.WRITE)


@settings(max_examples=300)
@given(path=st.lists(st.sampled_from(PARTS + ["secrets.py", "secret", "x.pem", "Jenkinsfile", ".vscode",
                                               "tasks.json", "a.code-workspace"]), min_size=1, max_size=5)
       .map("/".join))
def test_the_one_regex_lists_answer_as_pathspec_does(path):
    from refute.analysis import paths as P

    low = path.lower()
    assert P._DEFAULT_SECRETS.match_file(low) == P._spec(P.DEFAULT_SECRET_PATTERNS).match_file(low)
    assert P._TOOL_CONFIG.match_file(low) == P._spec(P.TOOL_CONFIG_PATTERNS).match_file(low)


def test_a_folder_cache_still_resolves_the_file_at_the_check(tree):
    root, outside = tree
    rule = PathRule(root, cache_folders=True)
    assert rule.check("swap.py", Purpose.SEND).rel == "swap.py"
    (root / "swap.py").unlink()
    (root / "swap.py").symlink_to(root / ".env")
    try:
        with pytest.raises(PathRefused):
            rule.check("swap.py", Purpose.SEND)
        with pytest.raises(PathRefused):
            rule.check("link_git/config", Purpose.READ)
    finally:
        (root / "swap.py").unlink()
        (root / "swap.py").write_text("x = 1\n")
