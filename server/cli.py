"""`refute` command line: one subcommand per module in refute.server.commands.

Each module there defines `register(subparsers)`, which adds its parser and sets
`func=handler`; a handler takes the parsed args and returns an exit code. The CLI drives
the same engine API as the language server (see ARCHITECTURE.md).

One rule for errors, here and nowhere else: a refusal (`RefusedError`: bad input, not
allowed, not found) exits 2 with its message on stderr, nothing started; any other
exception is a bug in refute: its traceback goes to stderr, then one line saying so, and
the exit code is 1 (the language server's rule is the same: server/lsp/errors.py).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback

from refute.orchestration.errors import RefusedError
from refute.server import commands as _commands


class _CommandParser(argparse.ArgumentParser):
    """Every command's --help shows its module docstring as written (paragraphs, lists)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="refute",
        description="Dynamic LLM workflows over a codebase, cross-checked, streamed into the editor.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)
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
    except RefusedError as exc:
        print(f"refute {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        traceback.print_exception(exc, file=sys.stderr)
        print(f"refute {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(a bug in refute; the traceback is above)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
