"""Neovim end to end: the real plugin in a real headless Neovim 0.11, talking to the real
`refute lsp` with the scripted provider. The Lua side (nvim_e2e.lua) performs and checks
each step; this side sets up the workspace and reports how far it got."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from editor_env import (HERE, NEOVIM_PLUGIN, NVIM, REFUTE, SETUP_HINT, assert_fix_saved, assert_steps, dump,
                        scenario_steps, scripted_settings)

pytestmark = pytest.mark.editor


def run_nvim(args: list[str], env: dict[str, str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    assert NVIM.exists(), f"{NVIM} is missing: {SETUP_HINT}"
    return subprocess.run(
        [str(NVIM), "--headless", "-u", "NONE", "-i", "NONE", "--cmd", f"set rtp^={NEOVIM_PLUGIN}", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )


def run_scenario(scenario: str, workspace: Path, env: dict[str, str], tmp_path: Path,
                 settings: dict[str, object]) -> str:
    log = tmp_path / f"nvim-{scenario}.log"
    env = dict(env, REFUTE_E2E_SCENARIO=scenario, REFUTE_E2E_ROOT=str(workspace),
               REFUTE_E2E_CMD=dump([str(REFUTE), "lsp"]), REFUTE_E2E_SETTINGS=dump(settings),
               REFUTE_E2E_LOG=str(log))
    proc = run_nvim(["-c", f"luafile {HERE / 'nvim_e2e.lua'}"], env, workspace, timeout=150)
    return scenario_steps(proc, log, f"nvim-{scenario}.log", f"scenario {scenario}")


def test_audit_fix_dismiss_and_report(workspace: Path, isolated_env: dict[str, str], tmp_path: Path) -> None:
    steps = run_scenario("audit", workspace, isolated_env, tmp_path, scripted_settings())
    assert_steps(steps, "fix applied", "dismissed")
    # Issue 16: progress through vim.lsp.status(), every finding (the unopened file's
    # too) in the quickfix list, a location list per buffer, evidence under the cursor.
    assert_steps(steps, "vim.lsp.status(): refute: audit", "lib/more.py:2 join_words fails on None",
                 "location list: refute findings: app.py, 2 items", "evidence: ")
    assert_fix_saved(workspace)


def test_cancel_stops_a_run(workspace: Path, isolated_env: dict[str, str], tmp_path: Path) -> None:
    # Every scripted call takes 3 s, so the run would last far longer than the cancel wait.
    steps = run_scenario("cancel", workspace, isolated_env, tmp_path, scripted_settings(scriptedLatencyS=3.0))
    assert "cancelled in" in steps


def test_budget_reached_then_resume_with_a_larger_budget(workspace: Path, isolated_env: dict[str, str],
                                                        tmp_path: Path) -> None:
    """Issue 12: the editor offers what `refute resume RUN --budget-tokens N` does."""
    steps = run_scenario("budget", workspace, isolated_env, tmp_path, scripted_settings(budgetTokens=1500))
    assert_steps(steps, "budget reached, told:", "resumed with tokens=500000: completed")


def test_continue_audit_until_complete(workspace: Path, isolated_env: dict[str, str], tmp_path: Path) -> None:
    """Issue 13: "Continue audit" after a partial audit (the call cap stops its finders)."""
    steps = run_scenario("continue", workspace, isolated_env, tmp_path,
                         scripted_settings(maxCalls=6, maxConcurrency=1))
    assert_steps(steps, "complete=false", "complete after", "findings: 3")


def test_one_client_per_root(workspace: Path, isolated_env: dict[str, str], tmp_path: Path) -> None:
    """Issue 16: two projects open in one Neovim are served root by root."""
    second = tmp_path / "second"
    shutil.copytree(workspace, second)
    steps = run_scenario("multiroot", workspace, dict(isolated_env, REFUTE_E2E_ROOT2=str(second)), tmp_path,
                         scripted_settings())
    assert_steps(steps, "two clients:", "quickfix: 3 findings of the first root, 3 of the second")


def test_checkhealth_starts_the_server(workspace: Path, isolated_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "health.txt"
    setup = f"lua require('refute').setup({{cmd = {{'{REFUTE}', 'lsp'}}}})"
    proc = run_nvim(["-c", "runtime plugin/refute.lua", "-c", setup, "-c", "checkhealth refute",
                     "-c", f"write! {out}", "-c", "qall!"], isolated_env, workspace, timeout=60)
    assert proc.returncode == 0, proc.stderr
    report = out.read_text()
    assert "OK Neovim 0.11" in report, report
    assert f"OK server executable: {REFUTE}" in report, report
    assert "OK server starts and answers initialize: refute" in report, report
    assert "ERROR" not in report, report


def test_checkhealth_reports_a_missing_server(workspace: Path, isolated_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "health.txt"
    setup = "lua require('refute').setup({cmd = {'/nonexistent/refute', 'lsp'}})"
    proc = run_nvim(["-c", "runtime plugin/refute.lua", "-c", setup, "-c", "checkhealth refute",
                     "-c", f"write! {out}", "-c", "qall!"], isolated_env, workspace, timeout=60)
    assert proc.returncode == 0, proc.stderr
    report = out.read_text()
    assert 'ERROR server executable "/nonexistent/refute" not found' in report, report


def test_lua_units(isolated_env: dict[str, str], tmp_path: Path) -> None:
    proc = run_nvim(["-l", str(HERE / "nvim_unit.lua")], isolated_env, tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "lua units: ok" in proc.stdout + proc.stderr


def test_ask_opens_a_markdown_report(workspace: Path, isolated_env: dict[str, str], tmp_path: Path) -> None:
    steps = run_scenario("ask", workspace, isolated_env, tmp_path, scripted_settings())
    assert "ask report:" in steps


def test_help_has_tags_for_every_command_and_link(isolated_env: dict[str, str], tmp_path: Path) -> None:
    doc = tmp_path / "doc"
    shutil.copytree(NEOVIM_PLUGIN / "doc", doc)
    script = f"local ok, err = pcall(vim.cmd.helptags, '{doc}'); if not ok then io.stderr:write(err); vim.cmd.cquit(1) end"
    proc = run_nvim(["-c", f"lua {script}", "-c", "qall!"], isolated_env, tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stderr
    tags = {line.split("\t")[0] for line in (doc / "tags").read_text().splitlines()}
    commands = set(re.findall(r"command\('(Refute\w+)'", (NEOVIM_PLUGIN / "plugin" / "refute.lua").read_text()))
    commands |= set(re.findall(r"(Refute\w+) = '", (NEOVIM_PLUGIN / "plugin" / "refute.lua").read_text()))
    assert len(commands) >= 10, commands
    assert {f":{c}" for c in commands} <= tags, f"commands without a help tag: {sorted({f':{c}' for c in commands} - tags)}"
    text = (doc / "refute.txt").read_text()
    links = set(re.findall(r"\|(refute[\w.()-]*|:Refute\w+)\|", text))
    assert links and links <= tags, f"links to missing tags: {sorted(links - tags)}"


def test_migrate_proposes_and_apply_writes_through_the_editor(workspace: Path, isolated_env: dict[str, str],
                                                            tmp_path: Path) -> None:
    steps = run_scenario("migrate", workspace, isolated_env, tmp_path, scripted_settings())
    assert "applied through workspace/applyEdit" in steps


def test_help_refute_works_as_shipped(isolated_env: dict[str, str], tmp_path: Path) -> None:
    """Issue 16: `:help refute` failed with E149 (no doc/tags shipped). The plugin folder
    on 'runtimepath' is all a user adds: no :helptags run here."""
    out = tmp_path / "help.txt"
    show = f"lua vim.fn.writefile({{vim.fn.expand('%:t'), vim.fn.getline('.')}}, '{out}')"
    proc = run_nvim(["-c", "help refute", "-c", show, "-c", "qall!"], isolated_env, tmp_path, timeout=30)
    assert proc.returncode == 0 and out.exists(), proc.stderr
    name, line = out.read_text().splitlines()
    assert name == "refute.txt" and "*refute*" in line, (name, line)


def test_shipped_help_tags_are_current(isolated_env: dict[str, str], tmp_path: Path) -> None:
    doc = tmp_path / "doc"
    shutil.copytree(NEOVIM_PLUGIN / "doc", doc)
    proc = run_nvim(["-c", f"helptags {doc}", "-c", "qall!"], isolated_env, tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert (NEOVIM_PLUGIN / "doc" / "tags").read_text() == (doc / "tags").read_text(), (
        "doc/tags is stale: run `nvim --headless -u NONE -c 'helptags editor-clients/neovim/doc' -c q`")
