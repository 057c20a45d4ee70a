"""Reverify: fresh blind refuters re-check one finding against the code as it is now."""


meta = {
    "name": "reverify",
    "description": "Re-check one finding with fresh blind refuters against the current code "
                   "(started by `refute.reverify` / Engine.reverify); the new verdicts are merged "
                   "into the finding.",
    "phases": ["verify"],
    "args": {"fingerprint": "", "finding": {}, "refuters": 3},
}


def unit_with(path, quote):
    """The work unit of `path` that holds the quote now, or None when the quote is gone."""
    where = locate(path, quote)
    if where is None:
        return None
    for unit in units(where["path"]):
        if unit["start_line"] + 1 <= where["line"] <= unit["end_line"] + 1:
            return unit
    return None


def main(args):
    finding = args.get("finding") or {}
    if not finding.get("path") or not finding.get("quote"):
        raise ValueError("reverify needs the finding (with path and quote) in args['finding']")
    phase("verify")
    claim = {}
    for key in ("path", "quote", "title", "explanation", "category", "severity", "cwe"):
        if finding.get(key):
            claim[key] = finding[key]
    # Marks these refuters as a re-check, so they are new calls rather than journal replays
    # of the first verification (the current code, via the unit, is part of the question too).
    claim["recheck"] = "a person asked for this finding to be checked again"
    unit = unit_with(finding["path"], finding["quote"])
    if unit is None:
        log("reverify: the quoted code is no longer in " + finding["path"] + "; the finding is stale")
        return {"verdict": "stale", "confidence": 0.0, "votes": {}}
    claim["unit"] = unit
    verdicts = refute(claim, k=int(args.get("refuters") or 3))
    outcome = vote(verdicts)
    updated = {}
    for key in ("path", "quote", "title", "explanation", "category", "severity", "cwe", "fix"):
        if finding.get(key):
            updated[key] = finding[key]
    if isinstance(updated.get("fix"), dict) and "old_text" in updated["fix"]:
        updated["fix"] = {"old": updated["fix"]["old_text"], "new": updated["fix"]["new_text"]}
    updated["verdicts"] = verdicts
    updated["confidence"] = outcome["confidence"]
    report(updated)
    log("reverify: " + outcome["verdict"] + " (" + str(outcome["votes"]) + ")")
    return outcome
