"""`refute eval CORPUS`: measure a configuration on ground truth before trusting it.

Runs a workflow (security by default) over a corpus whose truth is known, through the
same Engine as `refute run` (budgets, journal, pause and resume apply), and scores it per
case and per category: TP/FP/FN/TN, precision, recall, F1, TPR, FPR and OWASP's score
(TPR - FPR), before verification (the finders' raw candidates) and after (what
survived), with calls, tokens and dollars per true positive. The corpus's shipped SARIF
(OWASP: Bandit's) and any `--compare FILE` are scored on the same cases beside it.

  refute eval ../corpora/owasp-benchmark-python --sample 28 --seed 1 --plot eval.svg
  refute eval CORPUS --sarif bandit.sarif        # score any tool's SARIF; no model is called
  refute eval CORPUS --sample 50 --plan-only     # the cost estimate only

The cost estimate (the engine's plan) is printed first. The corpus is copied (without
its truth and other tools' results) into --workdir, by default .refute/eval/NAME-HASH/ of
--workspace; the corpus itself is never written. Re-running the same eval replays every
finished call from that folder's journal at no cost. Corpus formats: docs/eval.md.

Exit codes: 0 scored; 3 scored, but some agent calls failed (the table says so);
4 paused (Ctrl-C; run the same command again to go on without paying twice);
1 the run failed or was cancelled; 2 bad input (the message names the option).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from refute.orchestration.model import RunStatus
from refute.server.commands._options import UsageError, add_budget_options, key_value
from refute.server.commands.run import EXIT_CODES, Progress, add_common, make_engine


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="score a workflow (or any tool's SARIF) on a corpus with known truth",
        description=__doc__,
    )
    parser.add_argument("corpus", help="corpus folder: OWASP Benchmark Python, or a folder with truth.csv")
    parser.add_argument("--truth", metavar="FILE", help="truth file in the generic format (default: CORPUS/truth.csv)")
    parser.add_argument("--workflow", default="security",
                        help="workflow to evaluate: a name (bundled or the workspace's .refute/workflows/NAME.py) "
                             "or a .py file (default: security)")
    parser.add_argument("--arg", action="append", default=[], metavar="K=V", type=key_value,
                        help="workflow argument (V parsed as JSON when it can be: --arg refuters=3)")
    parser.add_argument("--sample", type=int, metavar="N", help="a sample of N cases, stratified by category")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the sample (default 0)")
    parser.add_argument("--sarif", action="append", default=[], metavar="FILE",
                        help="score this SARIF against the truth instead of running a workflow (repeatable)")
    parser.add_argument("--compare", action="append", default=[], metavar="FILE",
                        help="also score this SARIF on the same cases, beside the workflow's numbers (repeatable)")
    parser.add_argument("--plot", metavar="FILE.svg", help="write the plot (TPR/FPR per category, precision-recall)")
    parser.add_argument("--output", "-o", metavar="FILE", help="also write the JSON result to FILE")
    parser.add_argument("--plan-only", action="store_true", help="print the cost estimate and stop")
    parser.add_argument("--workdir", metavar="DIR", help="the eval workspace (default: .refute/eval/NAME-HASH/)")
    add_budget_options(parser, "the eval's run")
    add_common(parser)
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from refute.orchestration.evaluation.corpus import CorpusError, load_corpus
    from refute.orchestration.evaluation.sampling import stratified_sample
    from refute.orchestration.evaluation.sarif_input import SarifError

    try:
        _check(args)
        corpus = load_corpus(args.corpus, args.truth)
        cases = stratified_sample(corpus.cases, args.sample, args.seed) if args.sample else list(corpus.cases)
        if args.sarif:
            return _score_sarif(args, corpus, cases)
        return _evaluate(args, corpus, cases)
    except (UsageError, CorpusError, SarifError) as exc:
        print(f"refute eval: {exc}", file=sys.stderr)
        return 2


def _check(args: argparse.Namespace) -> None:
    if args.sample is not None and args.sample < 1:
        raise UsageError(f"--sample {args.sample}: give a number of cases above 0")
    if args.sarif and (args.plan_only or args.compare):
        raise UsageError("--sarif scores a SARIF file without running a workflow: it does not combine with "
                         "--plan-only or --compare")
    for option, files in (("--sarif", args.sarif), ("--compare", args.compare)):
        for name in files:
            if not Path(name).is_file():
                raise UsageError(f"{option} {name}: no such file")
    if args.plot and not args.plot.endswith(".svg"):
        raise UsageError(f"--plot {args.plot}: the plot is an SVG file: name it FILE.svg")


def _sample(corpus: Any, cases: list, args: argparse.Namespace) -> dict[str, Any]:
    from refute.orchestration.evaluation.harness import sample_summary

    return sample_summary(corpus, cases, args.sample, args.seed)


def _score_sarif(args: argparse.Namespace, corpus: Any, cases: list) -> int:
    from refute.orchestration.evaluation.harness import compare_sarif
    from refute.orchestration.evaluation.render import sarif_table

    comparisons = [c.to_dict() for c in compare_sarif([Path(p) for p in args.sarif], corpus, cases)]
    corpus_info = {"name": corpus.name, "kind": corpus.kind, "root": str(corpus.root), "cases": len(corpus.cases)}
    result = {"corpus": corpus_info, "sample": _sample(corpus, cases, args), "comparisons": comparisons}
    _emit(args, result, sarif_table(corpus_info, comparisons, result["sample"]))
    return 0


def _evaluate(args: argparse.Namespace, corpus: Any, cases: list) -> int:
    from refute.orchestration.evaluation import harness
    from refute.orchestration.evaluation.plot import render_svg
    from refute.orchestration.evaluation.render import eval_table
    from refute.orchestration.model import Scope
    from refute.orchestration.sandbox.scripts import WorkflowNotFound, resolve

    workspace = Path(args.workspace).resolve()
    try:
        source = resolve(workspace, args.workflow)
    except WorkflowNotFound as exc:
        raise UsageError(f"--workflow: {exc}") from None
    workdir = Path(args.workdir).resolve() if args.workdir else harness.default_workdir(workspace, corpus)
    try:
        harness.prepare_workspace(corpus, workdir)
    except ValueError as exc:
        raise UsageError(f"--workdir: {exc}") from None
    workflow = source.name
    if source.origin != "bundled":  # the workspace's own workflow, evaluated as it is
        harness.install_workflow(workdir, source.name, source.source)
    engine_args = argparse.Namespace(**vars(args))
    engine_args.workspace = str(workdir)
    if args.scripted_fixture:  # relative to where the command was typed, not to the eval copy
        engine_args.scripted_fixture = _absolute_fixture(args.scripted_fixture)
    engine = make_engine(engine_args)
    scope = Scope(corpus.case_paths(cases))
    workflow_args = dict(args.arg)
    sample = _sample(corpus, cases, args)
    try:
        try:
            plan = engine.plan(workflow, scope, workflow_args)
        except Exception as exc:  # a bad script or settings: the reason, not a traceback
            print(f"refute eval: cannot plan {workflow}: {exc}", file=sys.stderr)
            return 2
        plan_dict = plan.to_dict()
        _say(f"plan (an estimate, no model called): {plan.units} units in {sample['files']} files, "
             f"{plan.calls} agent calls, {plan.tokens:,} tokens, worst case ${plan.cost_usd:.4f}; "
             "verification calls depend on the candidates found and are not counted", args)
        cap = engine.settings.max_calls
        if cap and plan.calls >= cap // 2:
            _say(f"WARNING: the plan alone is {plan.calls} calls and a run makes at most {cap:,}; verification "
                 "adds about two calls per candidate: take a smaller --sample (or several seeds)", args)
        if args.plan_only:
            if args.json:
                print(json.dumps({"sample": sample, "plan": plan_dict, "workdir": str(workdir)}, indent=2))
            return 0
        try:
            run_id = engine.start(workflow, scope=scope, args=workflow_args, started_by="eval")
        except Exception as exc:
            print(f"refute eval: {exc}", file=sys.stderr)
            return 2
        info = _follow(engine, run_id, args)
        result = harness.evaluate(engine, corpus, cases, run_id, workflow=workflow, sample=sample, plan=plan_dict,
                                  compare=harness.shipped_sarif(corpus) + [Path(p) for p in args.compare])
    finally:
        engine.close()
    data = result.to_dict()
    data["workdir"] = str(workdir)
    if args.plot:
        Path(args.plot).write_text(render_svg(data), encoding="utf-8")
        _say(f"plot written to {args.plot}", args)
    _emit(args, data, eval_table(data))
    if info.status is RunStatus.PAUSED:
        _say("paused: run the same command again to go on (finished calls replay at no cost)", args)
    return EXIT_CODES.get(info.status, 1)


def _follow(engine: Any, run_id: str, args: argparse.Namespace) -> Any:
    display = Progress(run_id, live=sys.stderr.isatty() and not args.json)
    unsubscribe = engine.subscribe(display.on_event, run_id)
    try:
        display.start()
        try:
            return engine.wait(run_id)
        except KeyboardInterrupt:
            print(f"\nrefute eval: pausing run {run_id} (in-flight calls finish first)...", file=sys.stderr)
            engine.pause(run_id)
            return engine.wait(run_id, timeout=30)
    finally:
        display.stop()
        unsubscribe()


def _absolute_fixture(value: str) -> str:
    head, sep, func = value.rpartition(":")
    if sep and head and not value.endswith(".json") and (head.endswith(".py") or "/" in head):
        return f"{Path(head).resolve()}:{func}"
    if value.endswith(".json") or Path(value).exists():
        return str(Path(value).resolve())
    return value  # package.module:function


def _emit(args: argparse.Namespace, data: dict[str, Any], table: str) -> None:
    if args.output:
        Path(args.output).write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print(table)


def _say(text: str, args: argparse.Namespace) -> None:
    print(f"refute eval: {text}", file=sys.stderr, flush=True)
