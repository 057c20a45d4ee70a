"""`refute cancel RUN`: stop a run now (finished calls stay in the journal)."""

from __future__ import annotations

from refute.server.commands._control import register_control


def register(subparsers) -> None:
    register_control(subparsers, "cancel", __doc__, lambda engine, run_id: engine.cancel(run_id))
