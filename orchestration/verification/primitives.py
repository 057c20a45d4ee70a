"""The migration primitives of the workflow API (bound into the script's names by api.py).

| name | does |
| --- | --- |
| check_edit(path, replacements) | the mechanical check (mechanical.py): applies once, composes, still parses |
| run_check(files) | the project's own check on a temporary worktree (project_check.py); {"ran": False} when the person named no check command |
| load_guide() / save_guide(text) | the run's migration guide (store/guide.py) |

They run in the worker, outside the sandbox: the script hands over data (paths, text)
and gets data back; it never sees a process, a file handle or the command itself. The
check command comes from the run's folder (`check.json`, written by the Engine from the
person's `--check`), never from the script, so a workflow (a model-written one included)
cannot choose what runs. A dry run (`refute plan`) answers without running anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from refute.orchestration.store import guide as guide_store
from refute.orchestration.verification.mechanical import check_edit
from refute.orchestration.verification.project_check import CheckConfig, ProjectChecker, load_config


class MigrationPrimitives:
    def __init__(self, *, workspace: Path, state_dir: Path, run_id: str, dry_run: bool,
                 emit: Callable[..., None]):
        self.workspace = Path(workspace)
        self.state_dir = Path(state_dir)
        self.run_id = run_id
        self.dry_run = dry_run
        self.emit = emit
        self._checker: ProjectChecker | None = None
        self._config: CheckConfig | None = None
        self._config_loaded = False

    def names(self) -> dict[str, Any]:
        return {"check_edit": self.check_edit, "run_check": self.run_check, "load_guide": self.load_guide,
                "save_guide": self.save_guide}

    def check_edit(self, path: str, replacements: Any) -> dict[str, Any]:
        result = check_edit(self.workspace, str(path), replacements)
        if not result["ok"]:
            self.emit("edit_check_failed", path=result["path"], stage=result["stage"], problem=result["problem"])
        return result

    def _checker_for_run(self) -> ProjectChecker | None:
        if not self._config_loaded:
            self._config = None if self.dry_run else load_config(self.state_dir / "runs" / self.run_id)
            self._config_loaded = True
            if self._config is not None:
                self._checker = ProjectChecker(self.workspace, self.state_dir, self.run_id, self._config)
        return self._checker

    def run_check(self, files: Any) -> dict[str, Any]:
        """`files`: {path: proposed full text} (e.g. check_edit(...)["new_text"])."""
        if not isinstance(files, dict) or not files or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise TypeError("run_check(files): a dict {path: proposed text}, e.g. {path: check['new_text']}")
        checker = self._checker_for_run()
        if checker is None:
            return {"ran": False, "ok": True, "output": "", "files": sorted(files),
                    "reason": "no check command was named for this run (refute run ... --check 'CMD {files}')"}
        self.emit("check_started", files=sorted(files), command=checker.config.command)
        result = checker.run(dict(files))
        self.emit("check_finished", files=result["files"], ok=result["ok"], exit_code=result["exit_code"],
                  timed_out=result["timed_out"], duration_s=result["duration_s"])
        return result

    def load_guide(self) -> str | None:
        if self.dry_run:
            return None
        return guide_store.load(self.state_dir, self.run_id)

    def save_guide(self, text: Any) -> str:
        if self.dry_run:
            return "(dry run: guide not saved)"
        path = guide_store.save(self.state_dir, self.run_id, str(text))
        rel = path.relative_to(self.workspace).as_posix() if path.is_relative_to(self.workspace) else str(path)
        self.emit("guide_saved", path=rel, chars=len(str(text)))
        return rel


__all__ = ["MigrationPrimitives"]
