"""Migrate os.system calls to subprocess.run, one file at a time, as proposed edits."""

meta = {
    "name": "migrate",
    "description": "Propose replacing os.system(cmd) with subprocess.run(cmd, check=True).",
    "phases": ["edit"],
    "args": {},
}

PLAN = {
    "type": "object",
    "properties": {"change": {"type": "boolean"}, "reason": {"type": "string"}},
    "required": ["change", "reason"],
}


def main(args):
    phase("edit")
    proposed = 0
    for unit in units():
        if "os.system(cmd)" not in unit["text"]:
            continue
        answer = agent("Should " + unit["path"] + " move to subprocess?", unit=unit, schema=PLAN,
                       label="migrate " + unit["path"])
        if answer["change"]:
            propose_edit(unit["path"], old="os.system(cmd)", new="subprocess.run(cmd, check=True)",
                         reason=answer["reason"])
            proposed = proposed + 1
    return {"proposed": proposed}
