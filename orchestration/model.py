"""The engine's shared data model: calls, usage, findings, edits, runs, events.

Plain dataclasses that serialise to JSON-ready dicts (`to_dict` / `from_dict`), so the
journal, the CLI, the reports and the language server all speak the same shapes.
Positions are 0-based lines and 0-based code-point columns; front ends convert (LSP uses
UTF-16 columns, people read 1-based lines).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from enum import Enum, StrEnum
from typing import Any, ForwardRef, Union

# A JSON value: what crosses the engine seam where the shape belongs to a workflow script
# (its arguments and result) or to one event type. Named, so the seam test
# (tests/unit/test_engine_seam.py) can tell it from an unchecked `Any`.
# The forward reference names its module, so `typing.get_type_hints` resolves it from any
# module that uses the alias.
_JSON = ForwardRef("JSONValue", module=__name__)
JSONValue = Union[None, bool, int, float, str, list[_JSON], dict[str, _JSON]]
JSONObject = dict[str, JSONValue]

from refute.analysis.anchor import Span  # the one span type (re-exported)


def _from_dict(cls, data: dict[str, Any]):
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def stable_hash(*parts: Any) -> str:
    """sha256 over a canonical JSON encoding of `parts` (order of dict keys ignored)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# --- agent calls -------------------------------------------------------------------


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_write_tokens + self.cache_read_tokens

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Usage":
        return _from_dict(cls, data)


@dataclass
class CallRequest:
    """One agent call, fully described by its content (which is also its journal key)."""

    prompt: str
    model: str
    system: str = ""
    context: str | None = None  # shared prefix across a fan-out: sent first, cacheable
    schema: dict[str, Any] | None = None  # JSON schema for structured output
    max_tokens: int = 4096
    role: str = "default"  # default | finder | refuter | editor (picks the model by setting)
    tools: tuple[str, ...] = ()  # read-only workspace tools the agent may use
    unit_hash: str | None = None  # content hash of the work unit the call is about
    label: str | None = None  # human label for progress and audit ("audit:find parser.py")
    options: dict[str, Any] = field(default_factory=dict)  # temperature etc.

    def key(self) -> str:
        """Journal key: the content of what was asked, never who asked or when."""
        return stable_hash(
            "call/v1",
            self.model,
            self.system,
            self.context,
            self.prompt,
            self.unit_hash,
            self.schema,
            self.max_tokens,
            sorted(self.tools),
            self.options,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tools"] = list(self.tools)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CallRequest":
        obj = _from_dict(cls, data)
        obj.tools = tuple(obj.tools or ())
        return obj


@dataclass
class CallResult:
    text: str
    data: Any = None  # the validated object when the request had a schema
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    model: str = ""
    provider: str = ""  # "scripted" or "anthropic": shown wherever results are shown
    stop_reason: str = "end_turn"
    latency_s: float = 0.0
    replayed: bool = False  # True when served from the journal at zero cost
    # The API sent no usage: the numbers are an estimate (charged to the budget, flagged).
    estimated_usage: bool = False
    # Workspace files an agent read through its tools: {path: sha256 of the content}. The
    # journal replays the answer only while every one is unchanged.
    reads: dict[str, str] = field(default_factory=dict)
    run_id: str = ""  # the run that paid for it (set by the journal on replay)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["usage"] = self.usage.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CallResult":
        obj = _from_dict(cls, data)
        obj.usage = Usage.from_dict(obj.usage) if isinstance(obj.usage, dict) else obj.usage
        return obj


# --- findings and edits --------------------------------------------------------------


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    HINT = "hint"


class ReviewState(str, Enum):
    NEW = "new"
    ACCEPTED = "accepted"
    DISMISSED = "dismissed"
    FIXED = "fixed"
    STALE = "stale"  # the quoted code is no longer in the file


@dataclass
class TextEdit:
    """Replace `old_text` (anchored like a quote, so it survives nearby edits) with `new_text`."""

    path: str  # workspace-relative, posix
    old_text: str
    new_text: str
    span: Span | None = None  # where old_text was anchored when proposed

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old_text": self.old_text, "new_text": self.new_text,
                "span": self.span.to_dict() if self.span else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TextEdit":
        span = data.get("span")
        return cls(data["path"], data["old_text"], data["new_text"], Span.from_dict(span) if span else None)


@dataclass
class Verdict:
    verdict: str  # confirmed | refuted | uncertain
    reason: str = ""
    evidence: str = ""  # quoted counter-evidence
    agent: str = ""  # label of the refuter call
    provider: str = ""
    severity: str = ""  # the verifier's severity, if it gave one (it can only lower a finding's)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Verdict":
        return _from_dict(cls, data)


@dataclass
class Finding:
    fingerprint: str  # stable across runs and small edits: path, category, normalised quote
    path: str  # workspace-relative, posix
    span: Span
    severity: str  # a Severity value
    category: str  # e.g. "bug", "security", "performance"
    title: str
    explanation: str
    quote: str  # the code the finding is about, verbatim from the file
    verdicts: list[Verdict] = field(default_factory=list)
    confidence: float = 0.0
    fix: TextEdit | None = None
    provenance: list[str] = field(default_factory=list)  # journal keys of the calls behind it
    review_state: str = ReviewState.NEW.value
    run_id: str = ""
    workflow: str = ""
    cwe: str | None = None
    provider: str = ""  # "scripted" or "anthropic"
    cost_usd: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["span"] = self.span.to_dict()
        d["verdicts"] = [v.to_dict() for v in self.verdicts]
        d["fix"] = self.fix.to_dict() if self.fix else None
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Finding":
        obj = _from_dict(cls, data)
        obj.span = Span.from_dict(obj.span) if isinstance(obj.span, dict) else obj.span
        obj.verdicts = [Verdict.from_dict(v) if isinstance(v, dict) else v for v in obj.verdicts or []]
        obj.fix = TextEdit.from_dict(obj.fix) if isinstance(obj.fix, dict) else obj.fix
        return obj


@dataclass
class ProposedEdit:
    """A whole-file change a workflow proposes; nothing is written until a person applies it."""

    id: str
    path: str  # workspace-relative, posix
    base_hash: str  # sha256 of the file's bytes when the edit was proposed
    new_text: str  # the full proposed file content
    reason: str = ""
    reviews: list[Verdict] = field(default_factory=list)
    run_id: str = ""
    state: str = "proposed"  # proposed | applied | rejected | refused
    provider: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reviews"] = [v.to_dict() for v in self.reviews]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ProposedEdit":
        obj = _from_dict(cls, data)
        obj.reviews = [Verdict.from_dict(v) if isinstance(v, dict) else v for v in obj.reviews or []]
        return obj


# --- runs ------------------------------------------------------------------------------


class RunStatus(StrEnum):
    """A run's status. A StrEnum: equal to its value and written as it in JSON and f-strings,
    so run.json, events and the CLI/LSP payloads keep their strings; code compares members."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FAILED = "failed"
    COMPLETED = "completed"
    COMPLETED_WITH_FAILURES = "completed with failures"
    # The budget or the paid-call cap stopped dispatch: an outcome, not a failure.
    # Resumable: `refute resume RUN --budget-tokens N --budget-usd X` raises the budget.
    BUDGET_REACHED = "budget_reached"
    # Derived, never stored: run.json says queued/running but no process drives the run any
    # more (killed). `refute resume` continues it. Engine.run()/runs() report it, so the CLI
    # and the editor give one status for one run.
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.COMPLETED,
                        RunStatus.COMPLETED_WITH_FAILURES, RunStatus.BUDGET_REACHED)

    @property
    def live(self) -> bool:
        """Queued or running: what run.json says while a process drives the run (or until
        `Engine.run()` sees no process does and reports INTERRUPTED)."""
        return self in (RunStatus.QUEUED, RunStatus.RUNNING)


@dataclass
class Scope:
    """What a run looks at: workspace-relative files or folders (empty: the whole
    workspace), optionally narrowed to a line selection of one file (0-based, inclusive).

    `since`: only what changed since this git ref (changed files, and in them the units
    covering changed lines). `code_only`: leave out docs, data, config and (unless
    `include_tests`) tests, each listed with its reason (analysis/source_kinds.py). The
    last three are written to the dict only when set, so older records read the same."""

    paths: list[str] = field(default_factory=list)
    selection: tuple[int, int] | None = None
    since: str | None = None
    code_only: bool = False
    include_tests: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"paths": list(self.paths), "selection": list(self.selection) if self.selection else None}
        if self.since:
            out["since"] = self.since
        if self.code_only:
            out["code_only"] = True
        if self.include_tests:
            out["include_tests"] = True
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Scope":
        data = data or {}
        sel = data.get("selection")
        return cls(list(data.get("paths") or []), tuple(sel) if sel else None, data.get("since") or None,
                   bool(data.get("code_only")), bool(data.get("include_tests")))


@dataclass
class Budget:
    """Hard limits; None means unlimited. Worst cases are reserved before each call."""

    tokens: int | None = None
    usd: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Budget":
        return _from_dict(cls, data or {})


@dataclass
class RunInfo:
    id: str
    workflow: str  # name
    script_hash: str
    args: JSONObject
    scope: Scope
    status: RunStatus
    budget: Budget
    provider: str
    started_by: str = ""
    created_at: float = 0.0
    finished_at: float | None = None
    calls_done: int = 0
    calls_failed: int = 0
    calls_replayed: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    phase: str = ""
    error: str | None = None  # why it failed, or which calls failed
    result: JSONValue = None  # what main(args) returned (a report for `ask`)

    def __post_init__(self) -> None:
        self.status = RunStatus(self.status)  # run.json and older callers give the string

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value  # the wire and run.json keep the plain string
        d["scope"] = self.scope.to_dict()
        d["budget"] = self.budget.to_dict()
        d["usage"] = self.usage.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunInfo":
        obj = _from_dict(cls, data)
        obj.scope = Scope.from_dict(obj.scope) if isinstance(obj.scope, dict) else obj.scope
        obj.budget = Budget.from_dict(obj.budget) if isinstance(obj.budget, dict) else obj.budget
        obj.usage = Usage.from_dict(obj.usage) if isinstance(obj.usage, dict) else obj.usage
        return obj


# --- the plan estimate ------------------------------------------------------------------


@dataclass
class PlanEstimate:
    """An ESTIMATE, made without calling any model: agent calls, tokens and worst-case cost
    of a dry run in which every answer is a minimal placeholder (runtime/driver.py `plan`).
    The approval gate reads `calls` (or `expected_calls()`) and `cost_usd`, nothing else."""

    workflow: str
    units: int
    calls: int
    input_tokens: int
    max_output_tokens: int
    tokens: int  # input + max output: what the budget would reserve
    cost_usd: float  # worst case (every input token at cache-write price, max output)
    by_model: dict[str, JSONObject]
    findings_reported: int
    edits_proposed: int
    status: str  # the dry run's own outcome (a RunStatus value; a script error shows here)
    error: str | None = None
    estimate: bool = True
    notes: list[str] = field(default_factory=list)
    prices_taken: str = ""
    # With verification counted (calls/forecast.py; names documented in docs/scale.md):
    candidate_rate: JSONObject = field(default_factory=dict)  # value, source, runs, items
    forecast: JSONObject = field(default_factory=dict)  # cases{low,expected,high}, runs_needed, runs
    excluded: list[dict[str, str]] = field(default_factory=list)  # files left out of a code-only scope, why
    max_calls: int = 0  # paid calls per run (the cap the runs are counted against)
    fan_out: str = ""  # "units" | "components": how the dry run's search fanned out ("" when it did not search)

    def _expected_case(self) -> JSONObject:
        cases = self.forecast.get("cases")
        expected = cases.get("expected") if isinstance(cases, dict) else None
        return expected if isinstance(expected, dict) else {}

    @property
    def counts_verification(self) -> bool:
        """Whether the forecast adds verification (the script has finder calls)."""
        return bool(self._expected_case().get("finder_calls"))

    def expected_calls(self) -> int:
        """The calls a run is expected to make: with verification counted (the forecast's
        expected case), else the dry run's `calls`."""
        calls = self._expected_case().get("calls")
        if self.counts_verification and isinstance(calls, int) and not isinstance(calls, bool):
            return max(calls, self.calls)
        return self.calls

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PlanEstimate":
        return _from_dict(cls, data)


# --- run events --------------------------------------------------------------------------


@dataclass
class RunEvent:
    """One event of a run, as subscribers and `Engine.events()` receive it: the common
    fields typed, the type-specific rest in `data` (ARCHITECTURE.md lists each type's
    fields). On the wire, in events.jsonl and in `refute show --events` it is the flat
    dict `to_dict()` gives: {"type", "run_id", "ts", **data}."""

    type: str  # run_status | phase | log | call_started | call_finished | call_failed | progress | ...
    run_id: str
    ts: float
    data: JSONObject = field(default_factory=dict)

    @property
    def status(self) -> RunStatus | None:
        """A run_status event's status (None for other types)."""
        value = self.data.get("status") if self.type == "run_status" else None
        return RunStatus(value) if isinstance(value, str) else None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "run_id": self.run_id, "ts": self.ts, **self.data}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "RunEvent":
        data = {k: v for k, v in raw.items() if k not in ("type", "run_id", "ts")}
        return cls(str(raw.get("type") or ""), str(raw.get("run_id") or ""), float(raw.get("ts") or 0.0), data)
