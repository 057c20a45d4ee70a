"""The audit record of one run: `refute export RUN --format json|csv`.

What it answers (the EU AI Act's documentation and traceability asks, and an
administrator's "who sent what where"): who started the run, from which host, process
and workspace, when, under which policy (its file and hash); the workflow script and its
hash, args and scope; provider, endpoint, regions and models; every agent call (times,
model, tokens, cost, outcome, which workspace file paths it sent: never their contents);
the findings with their verdicts and review state; the findings dropped by the
mechanical check; what people decided (edits applied, by whom; dismissals with who,
when and why); and every failure.

It is assembled from what the run already keeps on disk (run.json, launch.json,
events.jsonl, admissions.jsonl and decisions.jsonl in the run's folder; the findings
and edits stores; .refute/dismissed.json), so exporting never changes a run and works
for runs driven by either front end. The JSON shape is versioned
(`schema_version`, SCHEMA_VERSION) and described by `audit_record.schema.json`, shipped
in this package and checked in the tests; docs/governance.md describes every field.
Quoted code (finding quotes, edit text, verdict evidence, prompts, answers) is left out
on purpose: the record says what left the machine, not what the code says.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from refute.orchestration.governance.gate import admissions, decisions

SCHEMA_ID = "refute.audit-record"
SCHEMA_VERSION = 1
SCHEMA_FILE = "audit_record.schema.json"
CSV_COLUMNS = ["record", "time", "id", "label", "model", "outcome", "input_tokens", "output_tokens",
               "cache_write_tokens", "cache_read_tokens", "cost_usd", "paths", "who", "detail"]


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(float(ts), timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def schema() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath(SCHEMA_FILE).read_text("utf-8"))


def validate(record: dict[str, Any]) -> None:
    """jsonschema.ValidationError when the record does not match the shipped schema."""
    import jsonschema

    jsonschema.validate(record, schema())


def build(engine: Any, run_id: str, *, now: float | None = None) -> dict[str, Any]:
    """The audit record of a run, as a JSON-ready dict (see the module doc)."""
    info = engine.run(run_id)
    run_dir: Path = engine.store.dir(info.id)
    launch = _read_json(run_dir / "launch.json")
    settings = launch.get("settings") or {}
    events = [e.to_dict() for e in engine.events(info.id)]  # the audit log's wire form, as recorded
    admitted = admissions(run_dir)
    calls = _calls(events)
    findings = engine.findings(info.id, include_dismissed=True)
    fingerprints = {f.fingerprint for f in findings}
    dismissals = engine.dismissals()
    applied = [d for d in decisions(run_dir) if d.get("kind") == "edit_applied"]
    workflow = launch.get("workflow") or {}
    first = admitted[0] if admitted else {}
    return {
        "schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(now if now is not None else datetime.now(timezone.utc).timestamp()),
        "run": {
            "id": info.id, "status": info.status.value, "error": info.error,
            "created_at": iso(info.created_at), "finished_at": iso(info.finished_at),
            "started_by": info.started_by, "args": info.args,
            "scope": {"paths": list(info.scope.paths), "selection": list(info.scope.selection)
                      if info.scope.selection else None},
            "budget": {"tokens": info.budget.tokens, "usd": info.budget.usd},
            "usage": info.usage.to_dict(), "cost_usd": round(float(info.cost_usd), 8),
            "calls_done": info.calls_done, "calls_failed": info.calls_failed, "calls_replayed": info.calls_replayed,
        },
        "workflow": {"name": info.workflow, "origin": workflow.get("origin"), "path": workflow.get("path"),
                     "script_sha256": info.script_hash},
        "starts": [{
            "at": iso(a.get("ts")), "resumed": bool(a.get("resumed")), "started_by": a.get("started_by"),
            "user": a.get("user"), "host": a.get("host"), "pid": a.get("pid"), "workspace": a.get("workspace"),
            "policy": a.get("policy") or {"source": None, "sha256": None},
            "provider": a.get("provider"), "endpoint": a.get("endpoint"), "regions": a.get("regions") or [],
            "budget": a.get("budget") or {"tokens": None, "usd": None}, "daily_cap_usd": a.get("daily_cap_usd"),
        } for a in admitted],
        "provider": {
            "name": settings.get("provider", info.provider), "client": settings.get("anthropic_client"),
            "endpoint": first.get("endpoint"), "regions": first.get("regions") or [],
            "inference_geo": settings.get("inference_geo"), "batch": bool(settings.get("batch", False)),
            "models": {role: settings.get(f"model_{role}") for role in ("default", "finder", "refuter", "editor")},
            "models_used": sorted({c["model"] for c in calls if c["model"]}),
        },
        "calls": calls,
        "findings": [{
            "fingerprint": f.fingerprint, "path": f.path, "start_line": f.span.start_line + 1,
            "end_line": f.span.end_line + 1, "severity": f.severity, "category": f.category, "cwe": f.cwe,
            "title": f.title, "confidence": float(f.confidence), "review_state": f.review_state,
            "verdicts": [{"verdict": v.verdict, "reason": v.reason, "agent": v.agent} for v in f.verdicts],
        } for f in findings],
        "dropped_findings": [{"at": iso(e.get("ts")), "path": e.get("path"), "reason": str(e.get("reason", ""))}
                             for e in events if e.get("type") == "finding_dropped"],
        "edits": [{
            "id": e.id, "path": e.path, "reason": e.reason, "state": e.state,
            "applied": [{"at": iso(d.get("ts")), "who": d.get("who"), "via": d.get("via", "cli")}
                        for d in applied if d.get("edit_id") == e.id],
        } for e in engine.edits(info.id)],
        "dismissals": [{"fingerprint": fp, "who": d.get("who"), "when": d.get("when"), "why": d.get("why")}
                       for fp, d in sorted(dismissals.items()) if fp in fingerprints],
        "failures": [{"at": iso(c["finished_at_ts"]), "key": c["key"], "label": c["label"], "error": c["error"]}
                     for c in _raw_failed(events)]
                    + ([{"at": iso(info.finished_at), "key": None, "label": "run", "error": info.error}]
                       if info.error else []),
    }


def _calls(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per call (in the order calls ended), with the paths the run sent for it."""
    started: dict[str, float] = {}
    paths: dict[str, list[str]] = {}
    out: list[dict[str, Any]] = []
    for e in events:
        kind, key = e.get("type"), str(e.get("key", ""))
        if kind == "call_paths":
            for p in e.get("paths") or []:
                paths.setdefault(key, [])
                if p not in paths[key]:
                    paths[key].append(p)
        elif kind == "call_started":
            started.setdefault(key, e.get("ts"))
        elif kind in ("call_finished", "call_failed"):
            usage = e.get("usage") or {}
            failed = kind == "call_failed"
            replayed = bool(e.get("replayed"))
            out.append({
                "key": key, "label": e.get("label"), "model": e.get("model") or "",
                "provider": e.get("provider") or "",
                "started_at": iso(started.pop(key, None)), "finished_at": iso(e.get("ts")),
                "outcome": "failed" if failed else ("replayed" if replayed else "ok"),
                "input_tokens": int(usage.get("input_tokens", 0)), "output_tokens": int(usage.get("output_tokens", 0)),
                "cache_write_tokens": int(usage.get("cache_write_tokens", 0)),
                "cache_read_tokens": int(usage.get("cache_read_tokens", 0)),
                "cost_usd": round(float(e.get("cost_usd") or 0.0), 8),
                "latency_s": e.get("latency_s"),
                # a replayed call sent nothing: it was answered from the journal. Else the
                # code the run put in the call, then what its agent's tools read and sent.
                "paths_sent": [] if replayed else list(dict.fromkeys([*paths.get(key, []), *(e.get("reads") or [])])),
                "error": e.get("error") if failed else None,
            })
    return out


def _raw_failed(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"finished_at_ts": e.get("ts"), "key": str(e.get("key", "")), "label": e.get("label"),
             "error": str(e.get("error", ""))} for e in events if e.get("type") == "call_failed"]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def to_csv(record: dict[str, Any]) -> str:
    """The same record as one flat table: one row per run, start, call, finding, dropped
    finding, edit application, dismissal and failure (columns in CSV_COLUMNS)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    run = record["run"]
    writer.writerow(_row("run", run["created_at"], run["id"], record["workflow"]["name"], outcome=run["status"],
                         cost_usd=run["cost_usd"], who=run["started_by"],
                         detail=f"script sha256 {record['workflow']['script_sha256']}; args {json.dumps(run['args'])}; "
                                f"scope {json.dumps(run['scope'])}"))
    for s in record["starts"]:
        writer.writerow(_row("start", s["at"], run["id"], "resumed" if s["resumed"] else "started",
                             who=f"{s['user']}@{s['host']} pid {s['pid']} ({s['started_by']})",
                             detail=f"policy {s['policy']['source']} {s['policy']['sha256'] or ''}; provider "
                                    f"{s['provider']}; endpoint {s['endpoint']}; regions {','.join(s['regions'])}"))
    for c in record["calls"]:
        writer.writerow(_row("call", c["finished_at"], c["key"], c["label"], model=c["model"], outcome=c["outcome"],
                             input_tokens=c["input_tokens"], output_tokens=c["output_tokens"],
                             cache_write_tokens=c["cache_write_tokens"], cache_read_tokens=c["cache_read_tokens"],
                             cost_usd=c["cost_usd"], paths=";".join(c["paths_sent"]), detail=c["error"] or ""))
    for f in record["findings"]:
        verdicts = ",".join(v["verdict"] for v in f["verdicts"])
        writer.writerow(_row("finding", None, f["fingerprint"], f["title"], outcome=f["review_state"],
                             paths=f"{f['path']}:{f['start_line']}", detail=f"{f['severity']} {f['category']}; "
                             f"verdicts {verdicts}"))
    for d in record["dropped_findings"]:
        writer.writerow(_row("dropped_finding", d["at"], "", "", paths=d["path"] or "", detail=d["reason"]))
    for e in record["edits"]:
        for a in e["applied"] or [{"at": None, "who": "", "via": ""}]:
            writer.writerow(_row("edit", a["at"], e["id"], e["reason"], outcome=e["state"], paths=e["path"],
                                 who=a["who"] or "", detail=a["via"] or ""))
    for d in record["dismissals"]:
        writer.writerow(_row("dismissal", d["when"], d["fingerprint"], "", outcome="dismissed", who=d["who"] or "",
                             detail=d["why"] or ""))
    for f in record["failures"]:
        writer.writerow(_row("failure", f["at"], f["key"] or "", f["label"] or "", outcome="failed", detail=f["error"]))
    return buf.getvalue()


def _row(record: str, time: str | None, id_: str, label: str | None, **cols: Any) -> dict[str, Any]:
    row = {c: "" for c in CSV_COLUMNS}
    row.update(record=record, time=time or "", id=id_, label=label or "")
    row.update({k: ("" if v is None else v) for k, v in cols.items()})
    return row
