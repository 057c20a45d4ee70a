"""`refute pause RUN`: pause a run (in-flight calls finish; resume later)."""

from __future__ import annotations

from refute.server.commands._control import register_control


def register(subparsers) -> None:
    register_control(subparsers, "pause", __doc__, lambda engine, run_id: engine.pause(run_id))
