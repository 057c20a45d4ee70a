"""Problems in a workflow script (syntax errors, sandbox violations, a missing `meta` or
`main(args)`) as diagnostics on its lines, checked on open and on every change
(debounced) with `engine.check_script`, which only parses: nothing is executed.
"""

from __future__ import annotations

import asyncio

from pygls.lsp.server import LanguageServer

from .code_lens import WORKFLOWS_DIR
from .session import Session

CHECK_DELAY_S = 0.25


class ScriptChecker:
    def __init__(self, session: Session):
        self.session = session
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._generation: dict[str, int] = {}

    @staticmethod
    def is_workflow(path: str) -> bool:
        rest = path[len(WORKFLOWS_DIR):] if path.startswith(WORKFLOWS_DIR) else None
        return rest is not None and rest.endswith(".py") and "/" not in rest

    def on_text(self, path: str, text: str, immediate: bool) -> None:
        if not self.is_workflow(path):
            return
        handle = self._pending.pop(path, None)
        if handle:
            handle.cancel()
        self._generation[path] = self._generation.get(path, 0) + 1
        generation = self._generation[path]
        loop = asyncio.get_running_loop()
        self._pending[path] = loop.call_later(
            0 if immediate else CHECK_DELAY_S, lambda: asyncio.ensure_future(self._check(path, text, generation))
        )

    async def _check(self, path: str, text: str, generation: int) -> None:
        self._pending.pop(path, None)
        try:
            problems = await self.session.engine_call("check_script", text)
        except Exception as exc:
            self.session.log_warning(f"refute: could not check {path}: {exc}")
            return
        if self._generation.get(path) != generation:
            return  # the buffer changed meanwhile; a newer check is on its way
        self.session.publisher.set_script_problems(path, [(int(p.line), int(p.col), str(p.message)) for p in problems])


def register(server: LanguageServer, session: Session) -> None:
    session.text_listeners.append(ScriptChecker(session).on_text)
