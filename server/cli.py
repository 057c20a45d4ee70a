"""`refute` command line: one subcommand per module in refute.server.commands.

Each module there defines `register(subparsers)`, which adds its parser and sets
`func=handler`; a handler takes the parsed args and returns an exit code. The CLI drives
the same engine API as the language server (see ARCHITECTURE.md).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from refute.orchestration.settings import SettingsError
from refute.server import commands as _commands
from refute.server.commands._options import UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="refute",
        description="Dynamic LLM workflows over a codebase, cross-checked, streamed into the editor.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{_commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a bad option (2, named on stderr)
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (UsageError, SettingsError) as exc:  # bad input: named, exit 2, nothing started
        print(f"refute {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
