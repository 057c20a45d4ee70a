"""`workspace/executeCommand`: every engine operation, names and payloads exactly as in
ARCHITECTURE.md ("server"). Each handler gets the `Session` and the command's one
object argument, and returns at once: runs go on in worker processes; engine calls that
touch stores run on the session's pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import tempfile
from pathlib import Path
from typing import Any, Awaitable, Callable

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path

from refute.analysis.paths import PathRefused, PathRule, Purpose
from refute.orchestration.model import Finding, PlanEstimate, RunInfo
from refute.orchestration.sandbox.scripts import WorkflowSource

from . import approval, evidence, params
from .errors import to_lsp_error
from .params import BadParams
from .session import Session
from .workspace_edit import diff_edits, preview_workspace_edit, workspace_edit

REPORTS_DIR = Path(".refute") / "reports"
PLANS_DIR = Path(".refute") / "plans"
REPORT_EXTENSIONS = {"md": "md", "json": "json", "sarif": "sarif"}

Handler = Callable[[Session, dict[str, Any]], Awaitable[Any]]
COMMANDS: dict[str, Handler] = {}


def command(name: str) -> Callable[[Handler], Handler]:
    def decorate(fn: Handler) -> Handler:
        COMMANDS[name] = fn
        return fn

    return decorate


def _who() -> str:
    try:
        return f"{getpass.getuser()} (editor)"
    except Exception:
        return "editor"


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def _show_document(session: Session, path: Path, take_focus: bool = True) -> bool:
    if not session.support.show_document:
        return False
    try:
        result = await asyncio.wait_for(
            session.client.window_show_document_async(
                types.ShowDocumentParams(uri=from_fs_path(str(path)) or "", take_focus=take_focus)
            ),
            timeout=10,
        )
        return bool(getattr(result, "success", False))
    except Exception as exc:
        session.log_warning(f"refute: could not open {path}: {exc}")
        return False


def _rel(session: Session, path: Path) -> str:
    """How a file refute wrote (a report, a SARIF export) is shown: workspace-relative by
    the one path rule when it is inside, else its absolute path."""
    try:
        return PathRule(session.root).check(str(path), Purpose.LOCATE).rel
    except PathRefused:
        return str(path)


# --- runs -----------------------------------------------------------------------------


@command("refute.run")
async def run(session: Session, p: dict[str, Any]) -> dict[str, Any]:
    name = "refute.run"
    continue_run = params.optional_str(name, p, "continueRun")  # "Continue audit": cover what a run left
    # A continuation is of the run's own workflow: editors may name just the run.
    workflow = params.optional_str(name, p, "workflow") if continue_run else params.required_str(name, p, "workflow")
    scope = params.scope(name, str(session.root), p)
    args = params.optional_dict(name, p, "args")
    budget = params.budget(name, p, (session.settings.budget_tokens, session.settings.budget_usd))
    check_command = params.optional_str(name, p, "checkCommand")
    check_timeout = params.optional_number(name, p, "checkTimeoutS")
    guide = p.get("guide")  # kept as written (a guide's whitespace is the person's)
    if guide is not None and (not isinstance(guide, str) or not guide.strip()):
        raise params.BadParams(f"{name}: 'guide' must be the non-empty text of a migration guide")
    extra: dict[str, Any] = {}
    if check_command is not None:
        extra["check"] = {"command": check_command, "timeout_s": float(check_timeout or 300)}
    if guide is not None:
        extra["guide"] = guide
    if continue_run:
        previous = await session.engine_call("run", continue_run)
        workflow = workflow or previous.workflow
        scope, args = previous.scope, {**(previous.args or {}), "skip_covered": True, "continues": previous.id}
    plan: PlanEstimate = await session.engine_call("plan", workflow, scope, args)
    reason = approval.over_threshold(plan, session.settings)
    if reason:
        answer = await approval.ask(session, workflow, plan, reason)
        if answer == approval.PLAN_ONLY:
            await _show_plan(session, workflow, plan.to_dict())
            return {"declined": True, "plan": plan.to_dict()}
        if answer != approval.RUN:
            return {"declined": True}
    if "check" in extra and not await approval.ask_check(session, workflow, check_command, extra["check"]["timeout_s"]):
        return {"declined": True}
    if continue_run:
        run_id = await session.engine_call("continue_run", continue_run, workflow=workflow, budget=budget,
                                      provider=session.settings.provider, max_concurrency=session.settings.max_concurrency,
                                      started_by=f"lsp:{_who()}")
    else:
        run_id = await session.engine_call(
            "start",
            workflow,
            scope=scope,
            args=args,
            budget=budget,
            provider=session.settings.provider,
            max_concurrency=session.settings.max_concurrency,
            started_by=f"lsp:{_who()}",
            **extra,
        )
    session.announce_run(run_id, workflow, plan.expected_calls())
    return {"runId": run_id}


async def _show_plan(session: Session, workflow: str, plan: dict[str, Any]) -> None:
    import json

    lines = [f"# Plan: {workflow}", "", "No model was called to make this plan.", "", "```json",
             json.dumps(plan, indent=2, default=str), "```", ""]
    target = session.root / PLANS_DIR / f"{workflow}.md"
    await session.call(_atomic_write, target, "\n".join(lines))
    await _show_document(session, target)


@command("refute.plan")
async def plan(session: Session, p: dict[str, Any]) -> dict[str, Any]:
    name = "refute.plan"
    workflow = params.required_str(name, p, "workflow")
    scope = params.scope(name, str(session.root), p)
    args = params.optional_dict(name, p, "args")
    estimate: PlanEstimate = await session.engine_call("plan", workflow, scope, args)
    return estimate.to_dict()


async def _run_op(session: Session, name: str, p: dict[str, Any], method: str) -> dict[str, Any]:
    run_id = params.required_str(name, p, "runId")
    await session.engine_call(method, run_id)
    return {"runId": run_id}


@command("refute.cancel")
async def cancel(session: Session, p):
    return await _run_op(session, "refute.cancel", p, "cancel")


@command("refute.pause")
async def pause(session: Session, p):
    return await _run_op(session, "refute.pause", p, "pause")


@command("refute.resume")
async def resume(session: Session, p):
    """`{runId, budgetTokens?, budgetUsd?}`: the budget fields raise a budget-reached run's
    limits, like `refute resume RUN --budget-tokens N --budget-usd X`."""
    name = "refute.resume"
    run_id = params.required_str(name, p, "runId")
    raised = params.budget(name, p, (None, None))
    budget = raised if (raised.tokens is not None or raised.usd is not None) else None
    await session.engine_call("resume", run_id, budget=budget)
    session.announce_run(run_id)
    return {"runId": run_id}


@command("refute.runs")
async def runs(session, p: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[RunInfo] = await session.engine_call("runs")
    return [r.to_dict() for r in found]


# --- reports --------------------------------------------------------------------------


@command("refute.report")
async def report(session: Session, p: dict[str, Any]) -> dict[str, Any]:
    name = "refute.report"
    run_id = params.required_str(name, p, "runId")
    fmt = params.optional_str(name, p, "format") or "md"
    if fmt not in REPORT_EXTENSIONS:
        raise BadParams(f"{name}: unknown format {fmt!r}; choose one of {', '.join(REPORT_EXTENSIONS)}")
    content = await session.engine_call("report", run_id, fmt)
    target = session.root / REPORTS_DIR / f"{run_id}.{REPORT_EXTENSIONS[fmt]}"
    await session.call(_atomic_write, target, content)
    await _show_document(session, target)
    return {"format": fmt, "content": content, "path": _rel(session, target)}


async def _latest_run_id(session: Session) -> str:
    found = await session.engine_call("runs")
    if not found:
        raise BadParams("refute.exportSarif: there are no runs in this workspace yet")
    latest = max(found, key=lambda r: (r.created_at or 0.0))
    return latest.id


@command("refute.exportSarif")
async def export_sarif(session: Session, p: dict[str, Any]) -> dict[str, Any]:
    run_id = params.optional_str("refute.exportSarif", p, "runId") or await _latest_run_id(session)
    content = await session.engine_call("report", run_id, "sarif")
    target = session.root / REPORTS_DIR / f"{run_id}.sarif"
    await session.call(_atomic_write, target, content)
    session.log_to_client(f"refute: SARIF for run {run_id} written to {_rel(session, target)}")
    return {"path": _rel(session, target), "uri": from_fs_path(str(target)), "runId": run_id}


AUDIT_FORMATS = ("json", "csv")


@command("refute.exportAudit")
async def export_audit(session: Session, p: dict[str, Any]) -> dict[str, Any]:
    """The run's audit record (`refute export`), written under .refute/reports/."""
    name = "refute.exportAudit"
    run_id = params.required_str(name, p, "runId")
    fmt = params.optional_str(name, p, "format") or "json"
    if fmt not in AUDIT_FORMATS:
        raise BadParams(f"{name}: unknown format {fmt!r}; choose one of {', '.join(AUDIT_FORMATS)}")
    content = await session.engine_call("audit_record", run_id, fmt)
    target = session.root / REPORTS_DIR / f"{run_id}.audit.{fmt}"
    await session.call(_atomic_write, target, content)
    return {"format": fmt, "path": _rel(session, target), "content": content}


@command("refute.policy")
async def policy(session: Session, p: dict[str, Any]) -> dict[str, Any]:
    """The admin policy in effect and where it comes from (`refute policy`)."""
    from refute.orchestration.governance import policy as admin_policy

    return (await session.call(admin_policy.load)).to_dict()


@command("refute.usage")
async def usage(session: Session, p: dict[str, Any]) -> dict[str, Any]:
    """The person's spend per day and month and the daily cap (`refute usage --json`)."""
    from refute.server.commands.usage import figures

    return await session.call(figures)


# --- findings -------------------------------------------------------------------------


@command("refute.dismiss")
async def dismiss(session: Session, p: dict[str, Any]) -> dict[str, Any]:
    name = "refute.dismiss"
    fp = params.required_str(name, p, "fingerprint")
    reason = p.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise BadParams(f"{name}: 'reason' must be a string (got {reason!r})")
    reason = (reason or "").strip() or "no reason given"
    # Gone from the editor at once; put back if the engine refuses.
    removed = session.findings.remove(fp)
    if removed is not None:
        session.publisher.now(removed.finding.path)
    try:
        await session.engine_call("dismiss", fp, reason, _who())
    except Exception:
        if removed is not None:
            session.findings.add(removed.finding, None)
            session.findings.get(fp).span = removed.span
            session.publisher.now(removed.finding.path)
        raise
    return {"fingerprint": fp, "dismissed": True}


@command("refute.restore")
async def restore(session: Session, p: dict[str, Any]) -> dict[str, Any]:
    fp = params.required_str("refute.restore", p, "fingerprint")
    finding: Finding = await session.engine_call("restore", fp)
    session.add_finding(finding, publish=False)
    session.publisher.now(finding.path)
    return {"fingerprint": fp, "restored": True}


async def _find(session: Session, fp: str) -> Finding | None:
    tracked = session.findings.get(fp)
    if tracked is not None:
        return tracked.finding
    for finding in await session.engine_call("findings", include_dismissed=True):
        if finding.fingerprint == fp:
            return finding
    return None


FINDING_STATES = ("new", "accepted", "dismissed", "fixed", "stale")


def finding_row(finding: Finding, tracked: Any = None) -> dict[str, Any]:
    """One finding as the Findings views list it (camelCase, no quote or verdict text:
    the evidence page has those). `line` is 0-based, where the person sees it now."""
    span = tracked.span if tracked is not None and tracked.span is not None else finding.span
    state = finding.review_state
    if tracked is not None and tracked.fixed:
        state = "fixed"
    confirmed = sum(1 for v in finding.verdicts if v.verdict == "confirmed")
    return {
        "fingerprint": finding.fingerprint, "path": finding.path, "line": span.start_line,
        "character": span.start_col, "severity": finding.severity, "category": finding.category,
        "title": finding.title, "runId": finding.run_id, "workflow": finding.workflow, "state": state,
        "confirmed": confirmed, "verdicts": len(finding.verdicts), "costUsd": round(finding.cost_usd, 6),
        "hasFix": finding.fix is not None, "provider": finding.provider,
    }


@command("refute.findings")
async def findings(session: Session, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Every finding of the workspace, dismissed and fixed ones included (the Findings
    view filters by `state`); `runId` narrows to one run, `state` to one review state."""
    name = "refute.findings"
    run_id = params.optional_str(name, p, "runId")
    state = params.optional_str(name, p, "state")
    if state is not None and state not in FINDING_STATES:
        raise BadParams(f"{name}: unknown state {state!r}; choose one of {', '.join(FINDING_STATES)}")
    found = await session.engine_call("findings", run_id, include_dismissed=True)
    rows = [finding_row(f, session.findings.get(f.fingerprint)) for f in found]
    return [r for r in rows if state is None or r["state"] == state]


@command("refute.reverify")
async def reverify(session: Session, p: dict[str, Any]) -> dict[str, Any]:
    fp = params.required_str("refute.reverify", p, "fingerprint")
    run_id = await session.engine_call("reverify", fp)
    session.announce_run(run_id, "reverify")
    return {"runId": run_id}


@command("refute.showEvidence")
async def show_evidence(session: Session, p: dict[str, Any]) -> dict[str, Any]:
    name = "refute.showEvidence"
    fp = params.required_str(name, p, "fingerprint")
    finding = await _find(session, fp)
    if finding is None:
        raise BadParams(f"{name}: no finding with fingerprint {fp!r}")
    tracked = session.findings.get(fp)
    line = tracked.span.start_line if tracked is not None and tracked.span is not None else None
    target = await session.call(evidence.write, session.root, finding, line)
    shown = await _show_document(session, target)
    return {"path": _rel(session, target), "uri": from_fs_path(str(target)), "shown": shown}


# --- edits ----------------------------------------------------------------------------


@command("refute.applyEdits")
async def apply_edits(session: Session, p: dict[str, Any]) -> dict[str, Any]:
    name = "refute.applyEdits"
    run_id = params.required_str(name, p, "runId")
    only = p.get("path")
    path = params.workspace_path(name, str(session.root), only) if only is not None else None
    proposed = [e for e in await session.engine_call("edits", run_id) if e.state == "proposed"]
    if path is not None:
        proposed = [e for e in proposed if e.path == path]
    applied: list[str] = []
    refused: list[dict[str, str]] = []
    if not proposed:
        where = f" for {path}" if path else ""
        refused.append({"path": path or "", "message": f"run {run_id} has no proposed edits{where} left to apply"})
        return _edit_outcome(session, applied, refused)
    # The engine checks each file still has the bytes the edit was proposed against.
    checks = await session.engine_call("apply_edits", run_id, sorted({e.path for e in proposed}), write=False)
    ok_ids = {c.edit_id for c in checks if c.ok}
    for c in checks:
        if not c.ok:
            refused.append({"path": c.path, "message": c.message})
    if params.optional_bool(name, p, "preview"):
        await _apply_preview(session, run_id, [e for e in proposed if e.id in ok_ids], applied, refused)
        return _edit_outcome(session, applied, refused)
    for edit in proposed:
        if edit.id not in ok_ids:
            continue
        outcome = await _apply_one(session, edit)
        if outcome is None:
            applied.append(edit.path)
            session.proposed_edits.applied(edit.path, run_id)
        else:
            refused.append({"path": edit.path, "message": outcome})
    return _edit_outcome(session, applied, refused)


def _edit_outcome(session: Session, applied: list[str], refused: list[dict[str, str]]) -> dict[str, Any]:
    if refused:
        session.client.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Warning,
                message="refute: not applied: " + "; ".join(r["message"] for r in refused),
            )
        )
    return {"applied": applied, "refused": refused}


PREVIEW_SETTLE_S = 5.0  # how long to wait for the client to save what the person accepted


async def _apply_preview(session: Session, run_id: str, edits: list, applied: list[str], refused: list[dict[str, str]]) -> None:
    """All of `edits` as one WorkspaceEdit whose changes need confirmation: the client
    previews them (VS Code: the refactor preview, per file or all at once) and writes
    only what the person accepts. An edit counts as applied when its file (open buffer
    or disk) now holds the proposed text."""
    if not edits:
        return
    if not (session.support.document_changes and session.support.change_annotations):
        refused.extend({"path": e.path, "message": f"{e.path}: this editor cannot preview edits (no change "
                        f"annotation support); preview with `refute apply {run_id} --diff`"} for e in edits)
        return
    files = []
    for edit in edits:
        disk = await session.call(session.documents.disk_text, edit.path)
        opened = session.documents.open_text(edit.path)
        if opened is not None and disk is not None and opened[0] != disk:
            refused.append({"path": edit.path, "message": f"{edit.path} has unsaved changes in the editor; "
                                                          "save or revert it, then apply again"})
            continue
        base = opened[0] if opened is not None else (disk or "")
        votes = [r.verdict for r in edit.reviews]
        files.append({"edit": edit, "uri": session.documents.uri(edit.path), "edits": diff_edits(base, edit.new_text, session.encoding),
                      "version": opened[1] if opened is not None else None, "create": disk is None,
                      "label": f"refute: {edit.path}",
                      "description": f"{edit.reason[:200]} ({votes.count('approve')} of {len(votes)} reviewers approved)"})
    if not files:
        return
    try:
        result = await asyncio.wait_for(session.client.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(
            edit=preview_workspace_edit(files), label=f"refute: edits of run {run_id}")), timeout=3600)
    except Exception as exc:
        refused.extend({"path": f["edit"].path, "message": f"{f['edit'].path}: the editor did not apply the edit ({exc})"}
                       for f in files)
        return
    if not getattr(result, "applied", False):
        reason = getattr(result, "failure_reason", None) or "the preview was cancelled"
        refused.extend({"path": f["edit"].path, "message": f"{f['edit'].path}: {reason}"} for f in files)
        return
    pending = {f["edit"].path: f["edit"] for f in files}
    deadline = asyncio.get_running_loop().time() + PREVIEW_SETTLE_S
    while pending:
        for path, edit in list(pending.items()):
            opened = session.documents.open_text(path)
            now = opened[0] if opened is not None else await session.call(session.documents.disk_text, path)
            if now == edit.new_text:
                await session.engine_call("mark_applied", edit.id)
                applied.append(path)
                session.proposed_edits.applied(path, run_id)
                del pending[path]
        if not pending or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.2)
    refused.extend({"path": path, "message": f"{path}: not applied (left out in the preview)"} for path in sorted(pending))


async def _apply_one(session: Session, edit) -> str | None:
    """Send one file's edit to the client; None when applied, else why not."""
    disk = await session.call(session.documents.disk_text, edit.path)
    opened = session.documents.open_text(edit.path)
    if opened is not None and disk is not None and opened[0] != disk:
        return f"{edit.path} has unsaved changes in the editor; save or revert it, then apply again"
    base = opened[0] if opened is not None else (disk or "")
    uri = session.documents.uri(edit.path)
    document_changes = session.support.document_changes
    creating = disk is None
    if creating and not (document_changes and session.support.create_files):
        return f"{edit.path} does not exist yet and this editor cannot create files through LSP; use `refute apply`"
    ws_edit = workspace_edit(
        uri,
        diff_edits(base, edit.new_text, session.encoding),
        version=opened[1] if opened is not None else None,
        document_changes=document_changes,
        create=creating,
    )
    try:
        result = await asyncio.wait_for(
            session.client.workspace_apply_edit_async(
                types.ApplyWorkspaceEditParams(edit=ws_edit, label=f"refute: {edit.reason or 'proposed edit'}"[:120])
            ),
            timeout=60,
        )
    except Exception as exc:
        return f"{edit.path}: the editor did not apply the edit ({exc})"
    if not getattr(result, "applied", False):
        reason = getattr(result, "failure_reason", None) or "the editor refused the edit"
        return f"{edit.path}: {reason}"
    try:
        await session.engine_call("mark_applied", edit.id)
    except Exception as exc:
        session.log_warning(f"refute: {edit.path} was changed in the editor but could not be marked applied: {exc}")
    return None


# --- workflows ------------------------------------------------------------------------


@command("refute.newWorkflow")
async def new_workflow(session: Session, p: dict[str, Any]) -> dict[str, Any]:
    request = params.required_str("refute.newWorkflow", p, "request")
    path: str = await session.engine_call("new_workflow", request)
    target = Path(path)
    if not target.is_absolute():
        target = session.root / target
    await _show_document(session, target)
    return {"path": _rel(session, target)}


@command("refute.workflows")
async def workflows(session, p: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[WorkflowSource] = await session.engine_call("workflows")
    return [w.info() for w in found]


@command("refute.doctor")
async def doctor(session: Session, p: dict[str, Any]) -> dict[str, Any]:
    """The provider checks of `refute doctor` (network: off the request path, in the pool);
    `{call: true}` adds the one-token call. The client shows `text`."""
    from refute.orchestration.providers.doctor import diagnose, format_checks, healthy

    call = p.get("call", False)
    if not isinstance(call, bool):
        raise BadParams(f"refute.doctor: call must be true or false, not {call!r}")
    checks = await session.call(diagnose, session.settings, session.root, call=call)
    session.client.window_show_message(types.ShowMessageParams(  # any client shows this, with no code of its own
        type=types.MessageType.Info if healthy(checks) else types.MessageType.Warning,
        message="refute doctor\n" + format_checks(checks)))
    return {"ok": healthy(checks), "provider": session.settings.provider, "checks": [c.to_dict() for c in checks],
            "text": format_checks(checks)}


# --- registration ---------------------------------------------------------------------


def register(server: LanguageServer, session: Session) -> None:
    for name, handler in COMMANDS.items():
        server.command(name)(_wrap(name, handler, session))


def _wrap(name: str, handler: Handler, session: Session):
    async def run_command(*args):
        p = params.single_object(name, args)
        try:
            return await handler(session, p)
        except Exception as exc:
            # The server stays up; a refusal keeps its words, a bug is an internal error.
            raise to_lsp_error(name, exc, session.log_error) from exc

    return run_command
