"""`refute doctor`: check the configured model provider and say what to fix.

Checks that it is configured, reachable, authenticated, that the model is known and (only
with --call, which spends one output token) that it accepts structured output. Reads the
same settings a run would (REFUTE_* variables and the provider flags). Exit 0 when nothing
failed, 1 when a check failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    from refute.server.commands.run import add_common

    parser = subparsers.add_parser("doctor", help="check the model provider (reachable, key, model, JSON output)",
                                   description=__doc__)
    parser.add_argument("--call", action="store_true",
                        help="also make one call with max_tokens=1 to check structured output (may cost a cent "
                             "fraction on a paid API; starts the model for --provider local)")
    add_common(parser)
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from refute.orchestration.providers.doctor import diagnose, environment_hint, format_checks, healthy
    from refute.server.commands.run import settings_from_args

    settings = settings_from_args(args)
    checks = diagnose(settings, Path(args.workspace).resolve(), call=args.call)
    ok = healthy(checks)
    if args.json:
        print(json.dumps({"ok": ok, "provider": settings.provider, "checks": [c.to_dict() for c in checks]},
                         indent=2))
    else:
        print(format_checks(checks))
        print(f"environment {environment_hint()}")
        print("ok: the provider is ready" if ok else "some checks failed: see fix: above", file=sys.stderr)
    return 0 if ok else 1
