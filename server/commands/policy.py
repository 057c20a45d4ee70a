"""`refute policy`: the admin policy in effect and where it comes from.

The policy is /etc/refute/policy.toml, or the file REFUTE_POLICY names (set by the
administrator). Exit 2 when that file is missing or invalid: refute will not run
without it. Rules and their meaning: docs/governance.md.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    parser = subparsers.add_parser("policy", help="show the admin policy in effect and its source",
                                   description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the effective policy as one JSON object")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from refute.orchestration.governance.policy import SCHEMA, load

    policy = load()  # a bad policy is a refusal: exit 2 with its message (server/cli.py)
    data = policy.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"policy: {policy.source}" + (f"  (sha256 {policy.sha256[:16]}...)" if policy.sha256 else ""))
    for section, keys in SCHEMA.items():
        for key, (_types, meaning) in keys.items():
            value = data[f"{section}_{key}"]
            shown = "(not limited)" if value is None else json.dumps(value)
            print(f"  {section}.{key:<26} {shown:<30} {meaning}")
    return 0
