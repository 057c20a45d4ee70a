"""The migration report: every file's outcome, with the reason, and a summary.

A migrate run's result is {"files": [{"path", "outcome", ...}], "counts": {...}} (see
workflows/migrate.py). Outcomes: proposed, unchanged, withdrawn (the editor gave up after
a failure was sent back), rejected (with the reviews), edit check failed (the mechanical
check's reason), check failed (the project's check command and its output), failed (an
agent call failed). Every file in scope appears exactly once, so a person can see what
the migration did *not* do as well as what it did.
"""

from __future__ import annotations

from typing import Any

ORDER = ("proposed", "unchanged", "withdrawn", "rejected", "edit check failed", "check failed", "failed")
MAX_OUTPUT_LINES = 40


def is_migration_result(result: Any) -> bool:
    return (isinstance(result, dict) and isinstance(result.get("files"), list)
            and all(isinstance(f, dict) and "path" in f and "outcome" in f for f in result["files"]))


def summary_line(files: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for entry in files:
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
    known = [k for k in ORDER if k in counts] + sorted(k for k in counts if k not in ORDER)
    return f"{len(files)} file(s): " + ", ".join(f"{counts[k]} {k}" for k in known)


def migration_markdown(result: dict[str, Any], guide_path: str | None = None) -> list[str]:
    if result.get("survey_only"):
        out = ["## Migration guide (survey only)", ""]
        if guide_path:
            out += [f"Saved as `{guide_path}`: edit it, then start the edit phase with "
                    f"`refute run migrate ... --guide {guide_path}`.", ""]
        return out + [str(result.get("guide") or "").rstrip(), ""]
    files = sorted(result["files"], key=lambda f: (ORDER.index(f["outcome"]) if f["outcome"] in ORDER
                                                   else len(ORDER), f["path"]))
    out = ["## Migration", "", f"- {summary_line(result['files'])}"]
    if guide_path:
        out.append(f"- guide: `{guide_path}` (edit it and start again with `--guide FILE`)")
    out.append("")
    out.append("| file | outcome | sent back for | detail |")
    out.append("| --- | --- | --- | --- |")
    for entry in files:
        out.append(f"| `{entry['path']}` | {entry['outcome']} | {', '.join(entry.get('retried') or []) or '-'} "
                   f"| {_detail(entry)} |")
    out.append("")
    for entry in files:
        if entry["outcome"] == "rejected":
            out.append(f"### {entry['path']}: rejected")
            out.append("")
            for review in entry.get("reviews") or []:
                out.append(f"- {review.get('verdict')} ({review.get('agent', 'reviewer')}): "
                           f"{_one_line(review.get('reason', ''))}")
            out.append("")
        elif entry["outcome"] == "check failed":
            check = entry.get("check") or {}
            out.append(f"### {entry['path']}: check failed")
            out.append("")
            out.append(f"`{check.get('command', '')}` exit {check.get('exit_code')}"
                       + (" (timed out)" if check.get("timed_out") else "") + ":")
            out.append("")
            lines = (check.get("output") or "").rstrip("\n").splitlines()[-MAX_OUTPUT_LINES:]
            out.append("```")
            out.extend(lines)
            out.append("```")
            out.append("")
        elif entry["outcome"] == "edit check failed":
            out.append(f"### {entry['path']}: edit check failed")
            out.append("")
            out.append(f"- {entry.get('problem', '')}")
            out.append("")
    return out


def _detail(entry: dict[str, Any]) -> str:
    outcome = entry["outcome"]
    check = entry.get("check") or {}
    if outcome == "proposed":
        approvals = sum(1 for r in entry.get("reviews") or [] if r.get("verdict") == "approve")
        text = f"{approvals} approval(s)"
        if check.get("ran"):
            text += f"; check passed in {check.get('duration_s', 0):g} s"
        return text
    if outcome == "rejected":
        return _cell("; ".join(r.get("reason", "") for r in entry.get("reviews") or []
                               if r.get("verdict") == "reject"))
    if outcome == "edit check failed":
        return _cell(entry.get("problem", ""))
    if outcome == "check failed":
        last = [line for line in (check.get("output") or "").splitlines() if line.strip()][-1:]
        return _cell(f"exit {check.get('exit_code')}: " + (last[0] if last else ""))
    return "-"


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _cell(text: str) -> str:
    return _one_line(text, 120).replace("|", "\\|")


__all__ = ["is_migration_result", "migration_markdown", "summary_line"]
