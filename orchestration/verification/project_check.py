"""The project's own check (a compile, a type-check, one test file) on proposed edits.

This is the only place where workspace code runs, and only because the person named the
command (`refute run migrate . --check "python -m py_compile {files}"`, or the editor
after it asked). Never by default: a workflow script cannot set the command (it is a run
option stored in the run folder, not a script argument), and without one `run_check`
answers {"ran": False}.

How one check runs (`ProjectChecker.run(files)`, files = {path: proposed text}):
1. `git worktree add --detach` of HEAD in a fresh temporary folder outside the workspace
   (so the project's tools do not find refute's state, and the person's files are never
   touched); the proposed files are written into it (HEAD plus the proposed files:
   uncommitted changes to other files are not in it);
2. the command runs there through `/bin/sh -c`, `{files}` replaced by the edited paths
   (shell-quoted), in a child process of its own session (so a timeout kills everything
   it started), stdin closed, credentials (CREDENTIAL_ENV_VARS) removed from its
   environment, with a time limit;
3. the worktree is removed (`git worktree remove --force`, then `git worktree prune`),
   whatever happened.
The child's pid and the worktree's folder are recorded under
`.refute/state/checks/<run>/` while it runs: when a run is cancelled its worker is
SIGKILLed and its `finally` never runs, so the Engine calls `cleanup_run` when the worker
ends, which kills the recorded process groups and removes the recorded worktrees.

Measured (bench/migrate_checks.py, 32 of pip's modules in a fresh repository): the
worktree costs about 190 ms per check (add, write, remove) against 4 ms for the same
`true` command run in place: small next to a real compile or test, and the price of never
touching the person's files.
At most `MAX_CONCURRENT_CHECKS` checks run at once (the build machines have 2 cores).
The answer keeps the last `MAX_OUTPUT_CHARS` characters of output (scrubbed of
credentials): enough for a compiler's error, bounded for the editor's prompt.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from refute.orchestration.errors import InvalidInput
from refute.orchestration.verification.findings import WorkspaceFileError, resolve_in_workspace
from refute.orchestration.calls.redaction import CREDENTIAL_ENV_VARS, is_secret_path, scrub

MAX_CONCURRENT_CHECKS = 2
MAX_OUTPUT_CHARS = 4000
DEFAULT_TIMEOUT_S = 300.0
FILES_PLACEHOLDER = "{files}"
CHECK_FILE = "check.json"  # the run option, in the run's folder


class CheckConfigError(InvalidInput):
    """A check command that cannot be used (empty, bad time limit, not a git work tree)."""


@dataclass(frozen=True)
class CheckConfig:
    command: str
    timeout_s: float = DEFAULT_TIMEOUT_S

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.command, "timeout_s": self.timeout_s}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "CheckConfig | None":
        if not data:
            return None
        return cls(str(data["command"]), float(data.get("timeout_s", DEFAULT_TIMEOUT_S)))


def validate(workspace: Path, command: str, timeout_s: float) -> CheckConfig:
    """The config, or CheckConfigError saying what to change."""
    if not isinstance(command, str) or not command.strip():
        raise CheckConfigError("--check needs a command, e.g. --check 'python -m py_compile {files}'")
    if not (0 < float(timeout_s) <= 3600):
        raise CheckConfigError(f"--check-timeout must be between 0 and 3600 seconds, not {timeout_s}")
    probe = subprocess.run(["git", "-C", str(workspace), "rev-parse", "--verify", "--quiet", "HEAD"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise CheckConfigError(f"--check runs on a temporary git worktree, but {workspace} is not a git "
                               "repository with a commit: commit first (git init && git commit), or drop --check")
    return CheckConfig(command.strip(), float(timeout_s))


def save_config(run_dir: Path, config: CheckConfig | None) -> None:
    if config is not None:
        (Path(run_dir) / CHECK_FILE).write_text(json.dumps(config.to_dict()), encoding="utf-8")


def load_config(run_dir: Path) -> CheckConfig | None:
    path = Path(run_dir) / CHECK_FILE
    if not path.exists():
        return None
    return CheckConfig.from_dict(json.loads(path.read_text("utf-8")))


def records_dir(state_dir: Path, run_id: str) -> Path:
    return Path(state_dir) / "checks" / run_id


def _git(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(workspace), *args], capture_output=True, text=True)


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_ENV_VARS}
    env.pop("PYTHONPATH", None)  # refute's own import path is not the project's
    return env


def _remove_worktree(workspace: Path, folder: Path) -> None:
    _git(workspace, "worktree", "remove", "--force", str(folder))
    shutil.rmtree(folder, ignore_errors=True)
    _git(workspace, "worktree", "prune")


def _kill_group(pid: int) -> None:
    try:
        if os.getpgid(pid) == pid:  # still the leader of the group we started
            os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class ProjectChecker:
    def __init__(self, workspace: Path, state_dir: Path, run_id: str, config: CheckConfig):
        self.workspace = Path(workspace).resolve()
        self.config = config
        self.records = records_dir(state_dir, run_id)
        self._slots = threading.Semaphore(MAX_CONCURRENT_CHECKS)
        self._counter = 0
        self._lock = threading.Lock()

    def _record(self, name: str, **fields: Any) -> Path:
        self.records.mkdir(parents=True, exist_ok=True)
        path = self.records / f"{name}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(fields), encoding="utf-8")
        os.replace(tmp, path)
        return path

    def run(self, files: dict[str, str]) -> dict[str, Any]:
        """Run the command on a worktree holding `files` ({path: new text}); the outcome."""
        rels: list[str] = []
        for path in files:
            try:
                absolute, rel = resolve_in_workspace(self.workspace, path)
            except WorkspaceFileError as exc:
                raise ValueError(f"run_check: {exc}") from None
            # Only new text for files the workspace has: a script cannot plant a new file
            # (a conftest.py, a build hook) for the person's command to pick up.
            if is_secret_path(rel) or not absolute.is_file() or absolute.is_symlink():
                raise ValueError(f"run_check: {rel} is not an existing, non-secret file of the workspace")
            rels.append(rel)
        with self._slots:
            with self._lock:
                self._counter += 1
                name = f"check-{os.getpid()}-{self._counter}"
            folder = Path(tempfile.mkdtemp(prefix="refute-check-"))
            record = self._record(name, worktree=str(folder), pid=None)
            try:
                added = _git(self.workspace, "worktree", "add", "--detach", "--quiet", str(folder), "HEAD")
                if added.returncode != 0:
                    return self._answer(rels, ok=False, exit_code=None, timed_out=False, started=time.monotonic(),
                                        output=f"could not create the check worktree: {added.stderr.strip()}")
                # The workspace may be a folder inside the repository: the same folder of the worktree.
                prefix = _git(self.workspace, "rev-parse", "--show-prefix").stdout.strip()
                here = folder / prefix if prefix else folder
                for rel, text in zip(rels, files.values()):
                    target = here / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(text, encoding="utf-8")
                return self._execute(name, here, rels)
            finally:
                _remove_worktree(self.workspace, folder)
                record.unlink(missing_ok=True)

    def _execute(self, name: str, here: Path, rels: list[str]) -> dict[str, Any]:
        command = self.config.command.replace(FILES_PLACEHOLDER, shlex.join(rels))
        started = time.monotonic()
        proc = subprocess.Popen(["/bin/sh", "-c", command], cwd=str(here), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_child_env(),
                                start_new_session=True)
        self._record(name, worktree=self._worktree_of(here), pid=proc.pid)
        timed_out = False
        try:
            output, _ = proc.communicate(timeout=self.config.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            output, _ = proc.communicate()
        finally:
            _kill_group(proc.pid)  # anything it left running in its session
        text = output.decode("utf-8", "replace")
        if timed_out:
            text += f"\n(stopped: the check took longer than {self.config.timeout_s:g} s)"
        return self._answer(rels, ok=proc.returncode == 0 and not timed_out, exit_code=proc.returncode,
                            timed_out=timed_out, started=started, output=text)

    @staticmethod
    def _worktree_of(here: Path) -> str:
        for candidate in (here, *here.parents):
            if (candidate / ".git").exists():
                return str(candidate)
        return str(here)

    def _answer(self, rels: list[str], *, ok: bool, exit_code: int | None, timed_out: bool, started: float,
                output: str) -> dict[str, Any]:
        output = scrub(output)
        if len(output) > MAX_OUTPUT_CHARS:
            output = "...\n" + output[-MAX_OUTPUT_CHARS:]
        return {"ran": True, "ok": ok, "exit_code": exit_code, "timed_out": timed_out, "files": rels,
                "command": self.config.command, "output": output, "duration_s": round(time.monotonic() - started, 3)}


def cleanup_run(workspace: Path, state_dir: Path, run_id: str) -> int:
    """Kill the checks a dead worker left running and remove their worktrees; how many."""
    folder = records_dir(state_dir, run_id)
    if not folder.is_dir():
        return 0
    cleaned = 0
    for record in sorted(folder.glob("*.json")):
        try:
            data = json.loads(record.read_text("utf-8"))
        except (OSError, ValueError):
            data = {}
        if data.get("pid"):
            _kill_group(int(data["pid"]))
        if data.get("worktree"):
            _remove_worktree(Path(workspace), Path(data["worktree"]))
        record.unlink(missing_ok=True)
        cleaned += 1
    shutil.rmtree(folder, ignore_errors=True)
    return cleaned


__all__ = ["CheckConfig", "CheckConfigError", "ProjectChecker", "cleanup_run", "load_config", "save_config",
           "validate"]
