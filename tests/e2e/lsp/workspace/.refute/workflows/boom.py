"""A workflow that fails after one call: the server must report it loudly and stay up."""

meta = {"name": "boom", "description": "fails on purpose", "phases": ["fail"], "args": {}}


def main(args):
    phase("fail")
    agent("anything to say?", label="boom probe")
    missing = {}
    return missing["key"]
