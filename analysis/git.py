"""Running `git` on a workspace without letting the workspace's own config run commands.

A repository's `.git/config` is workspace content: an audited repository may set
`core.fsmonitor` to a shell command, and `git ls-files` runs it (seen here with git
2.39: `git ls-files -co --exclude-standard` executed `core.fsmonitor`). Every git
invocation refute makes on a workspace goes through `run_git`, which overrides the
settings that name programs (fsmonitor, hooks, pagers, external diff, textconv via
--no-textconv where it applies), ignores the system config, never prompts, and takes no
optional locks (a read never rewrites the index).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Sequence

HARDENING: tuple[str, ...] = (
    "-c", "core.fsmonitor=false",
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.untrackedCache=false",
    "-c", "core.pager=cat",
    "-c", "diff.external=",
    "-c", "core.sshCommand=",
    "-c", "protocol.allow=never",
    "--no-optional-locks",
)


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
    return env


def git_argv(root: str | os.PathLike[str], args: Sequence[str]) -> list[str]:
    return ["git", "-C", str(root), *HARDENING, *args]


def run_git(root: str | os.PathLike[str], args: Sequence[str], *, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """`git -C root <hardening> args...`, captured. Raises OSError (git missing) or
    TimeoutError (an OSError too), so a caller needs one except clause."""
    try:
        return subprocess.run(git_argv(Path(root), args), capture_output=True, timeout=timeout, check=False,
                              env=git_env(), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError(f"git {' '.join(args)} took longer than {timeout:g} s in {root}") from exc
