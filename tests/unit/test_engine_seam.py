"""The engine/server seam is typed: every public `Engine` method says exactly what it takes
and returns (dataclasses of orchestration/model.py, `RunStatus`, `RunEvent`), with no
`Any` anywhere in those types, nested ones included; JSON whose shape belongs to a
workflow script or one event type is the named `JSONValue`, not `Any`.

Also checked at run time: what the engine hands the CLI and the language server is what
the annotations say (RunInfo.status a RunStatus member, events RunEvent whose wire form is
the audit log's line)."""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing
from pathlib import Path

import pytest

from refute.orchestration.engine import Engine
from refute.orchestration.model import PlanEstimate, RunEvent, RunStatus
from refute.orchestration.settings import EngineSettings

ALLOWED_FORWARD_REFS = {"JSONValue"}  # the recursive JSON alias (model.py): its arguments are checked once


def _public_methods() -> list[tuple[str, typing.Callable]]:
    methods = [("__init__", Engine.__init__)]
    methods += [(name, member) for name, member in inspect.getmembers(Engine, inspect.isfunction)
                if not name.startswith("_")]
    return methods


def _problems(tp: object, where: str, seen: set[object]) -> list[str]:
    """Every place under `tp` that is Any, unannotated or unresolvable."""
    if tp is typing.Any:
        return [f"{where} is Any"]
    if isinstance(tp, typing.ForwardRef):
        return [] if tp.__forward_arg__ in ALLOWED_FORWARD_REFS else [f"{where}: unresolved {tp.__forward_arg__}"]
    if isinstance(tp, (list, tuple)):  # Callable's parameter list
        return [p for i, arg in enumerate(tp) for p in _problems(arg, f"{where}[{i}]", seen)]
    try:
        if tp in seen:
            return []
        seen.add(tp)
    except TypeError:  # an unhashable alias: walk it, it is finite
        pass
    problems = [p for i, arg in enumerate(typing.get_args(tp)) for p in _problems(arg, f"{where}[{i}]", seen)]
    if isinstance(tp, type) and dataclasses.is_dataclass(tp) and tp.__module__.startswith(("refute.", __name__)):
        hints = typing.get_type_hints(tp)
        for f in dataclasses.fields(tp):
            problems += _problems(hints[f.name], f"{where}.{f.name}", seen)
    return problems


def test_every_public_engine_method_is_annotated_without_any():
    problems: list[str] = []
    seen: set[object] = set()
    for name, method in _public_methods():
        hints = typing.get_type_hints(method)
        params = [p for p in inspect.signature(method).parameters.values() if p.name != "self"]
        problems += [f"Engine.{name}({p.name}) has no annotation" for p in params if p.name not in hints]
        if "return" not in hints:
            problems.append(f"Engine.{name} has no return annotation")
        for key, tp in hints.items():
            problems += _problems(tp, f"Engine.{name} {key}", seen)
    assert problems == []


def test_the_seam_check_catches_any_nested_in_a_dataclass():
    @dataclasses.dataclass
    class Leaky:
        payload: dict[str, typing.Any]

    assert _problems(list[Leaky], "x", set()) == ["x[0].payload[1] is Any"]
    assert _problems(typing.Callable[[typing.Any], None], "cb", set()) == ["cb[0][0] is Any"]


def test_the_typed_api_names_the_dataclasses_the_front_ends_read():
    hints = {name: typing.get_type_hints(method) for name, method in _public_methods()}
    assert hints["plan"]["return"] is PlanEstimate
    assert hints["events"]["return"] == list[RunEvent]
    assert typing.get_args(hints["subscribe"]["callback"]) == ([RunEvent], type(None))
    run_info = hints["run"]["return"]
    assert typing.get_type_hints(run_info)["status"] is RunStatus


FIXTURE = {"rules": [{"match": ".", "reply": "plain answer"}]}


@pytest.fixture
def engine(tmp_path):
    (tmp_path / "fixture.json").write_text(json.dumps(FIXTURE))
    folder = tmp_path / ".refute" / "workflows"
    folder.mkdir(parents=True)
    meta = {"name": "two", "description": "two calls", "phases": ["one"], "args": {}}
    (folder / "two.py").write_text(f"meta = {meta!r}\n\ndef main(args):\n"
                                   "    phase('one')\n    return [agent('a'), agent('b')]\n")
    e = Engine(tmp_path, EngineSettings(provider="scripted", scripted_fixture="fixture.json"))
    yield e
    e.close()


def test_the_engine_hands_out_what_its_annotations_say(engine):
    seen: list[RunEvent] = []
    engine.subscribe(seen.append)
    run_id = engine.start("two")
    info = engine.wait(run_id, timeout=30)
    assert info.status is RunStatus.COMPLETED and info.status == "completed"  # a member; still its string
    assert all(r.status in RunStatus for r in engine.runs())
    assert seen and all(isinstance(e, RunEvent) for e in seen)
    assert seen[-1].type == "run_status" and seen[-1].status is RunStatus.COMPLETED
    assert [e.type for e in seen].count("call_finished") == 2 and {e.run_id for e in seen} == {run_id}
    logged = engine.events(run_id)
    assert logged == seen
    lines = (Path(engine.store.dir(run_id)) / "events.jsonl").read_text("utf-8").splitlines()
    assert [e.to_dict() for e in logged] == [json.loads(line) for line in lines]  # the wire form is the log line
    # The wire (refute runs --json, refute.runs) keeps the plain string.
    assert json.loads(json.dumps(info.to_dict()))["status"] == "completed"
    assert type(info.to_dict()["status"]) is str
