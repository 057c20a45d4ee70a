"""The eval's tables, as plain text (the CLI prints them; `--json` prints EvalResult.to_dict()).

`eval_table`: one row per category and the overall / category-average rows, before and
after verification side by side, each compared tool's TPR / FPR / score beside them,
then precision, recall and F1, then what it cost (per true positive). `sarif_table`: the
same figures for a SARIF scored on its own (`refute eval CORPUS --sarif FILE`).
"""

from __future__ import annotations

from typing import Any

from refute.orchestration.providers.base import provider_label


def _f(value: Any, width: int = 5) -> str:
    if value is None:
        return "-".rjust(width)
    if isinstance(value, float):
        return f"{value:.2f}".rjust(width)
    return str(value).rjust(width)


def _counts(row: dict[str, Any]) -> str:
    return f"{row['tp']:>4} {row['fp']:>4} {row['fn']:>4} {row['tn']:>4} {_f(row['tpr'])} {_f(row['fpr'])} {_f(row['score'], 6)}"


def eval_table(result: dict[str, Any]) -> str:
    sample = result["sample"]
    run = result["run"]
    provider = result["provider"]
    label = provider_label(provider)  # scripted and the local demo model say what they are
    lines = [
        f"refute eval: workflow {result['workflow']} on {result['corpus']['name']} ({result['corpus']['kind']}): "
        f"{sample['cases']} of {sample['of']} cases in {sample['files']} files"
        + (f", stratified sample, seed {sample['seed']}" if sample.get("requested") else ""),
        f"provider {label}; run {run['id']}: {run['status']}; {run['calls_done']} calls "
        f"({run['calls_replayed']} replayed, {run['calls_failed']} failed)",
    ]
    if run.get("error"):
        lines.append(f"  run error: {run['error']}")
    units = (result.get("plan") or {}).get("units")
    if result.get("incomplete_cases") or run["status"] not in ("completed",) or \
            (units is not None and result.get("finder_answers", units) < units):
        advice = ("run the same command again to go on (finished calls replay free)" if run["status"] == "paused"
                  else "evaluate a smaller --sample: a run makes at most 1,000 agent calls, replayed ones included")
        lines.append(f"  WARNING: the numbers below are incomplete: {result.get('incomplete_cases', 0)} cases had a "
                     f"failed call; finders answered for {result.get('finder_answers')} of {units} units; {advice}.")
    if not result.get("finder_answers") and run["calls_done"]:
        lines.append("  WARNING: no call was made with role=\"finder\", so 'before verification' is empty: give the "
                     "workflow's finder calls role=\"finder\" (the bundled audit and security workflows do)")
    lines.append(f"raw candidates {result['candidates']}, dropped by the quote check "
                 f"{result['dropped_by_quote_check']}, reported after verification {result['survivors']}")
    tools = result.get("comparisons") or []
    head1 = f"{'':16} {'':>5} | {'before verification':^37} | {'after verification':^37}"
    head2 = f"{'category':16} {'cases':>5} | {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4} {'TPR':>5} {'FPR':>5} {'score':>6} " \
            f"| {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4} {'TPR':>5} {'FPR':>5} {'score':>6}"
    for tool in tools:
        head1 += f" | {tool['tool'][:19]:^19}"
        head2 += f" | {'TPR':>5} {'FPR':>5} {'score':>6}"
    lines += ["", head1, head2, "-" * len(head2)]
    for name in result["after"]["by_category"]:
        before, after = result["before"]["by_category"][name], result["after"]["by_category"][name]
        row = f"{name[:16]:16} {after['cases']:>5} | {_counts(before)} | {_counts(after)}"
        for tool in tools:
            t = tool["by_category"][name]
            row += f" | {_f(t['tpr'])} {_f(t['fpr'])} {_f(t['score'], 6)}"
        lines.append(row)
    lines.append("-" * len(head2))
    before, after = result["before"]["overall"], result["after"]["overall"]
    row = f"{'overall':16} {after['cases']:>5} | {_counts(before)} | {_counts(after)}"
    for tool in tools:
        t = tool["overall"]
        row += f" | {_f(t['tpr'])} {_f(t['fpr'])} {_f(t['score'], 6)}"
    lines.append(row)
    b_avg, a_avg = result["before"]["category_average"], result["after"]["category_average"]
    blank = " " * 19
    row = (f"{'category average':16} {'':>5} | {blank} {_f(b_avg['tpr'])} {_f(b_avg['fpr'])} {_f(b_avg['score'], 6)} "
           f"| {blank} {_f(a_avg['tpr'])} {_f(a_avg['fpr'])} {_f(a_avg['score'], 6)}")
    for tool in tools:
        t = tool["category_average"]
        row += f" | {_f(t['tpr'])} {_f(t['fpr'])} {_f(t['score'], 6)}"
    lines.append(row)
    lines.append("")
    lines.append(f"precision {_f(before['precision'])} -> {_f(after['precision'])}   recall {_f(before['recall'])} -> "
                 f"{_f(after['recall'])}   F1 {_f(before['f1'])} -> {_f(after['f1'])}"
                 + "".join(f"   | {t['tool']}: precision {_f(t['overall']['precision'])}, recall "
                           f"{_f(t['overall']['recall'])}, F1 {_f(t['overall']['f1'])}" for t in tools))
    cost = result["cost"]
    lines.append(f"cost (as recorded when paid): finding {cost['finding']['calls']} calls, "
                 f"{cost['finding']['tokens']:,} tokens, ${cost['finding']['usd']:.4f}; verification "
                 f"{cost['verification']['calls']} calls, {cost['verification']['tokens']:,} tokens, "
                 f"${cost['verification']['usd']:.4f}; paid by this run ${cost['paid_this_run']['usd']:.4f}")
    for when in ("before", "after"):
        per = cost[f"per_true_positive_{when}"]
        lines.append(f"per true positive {when} verification: " + (
            f"{per['calls']} calls, {per['tokens']:,.0f} tokens, ${per['usd']:.4f}" if per else "no true positive"))
    return "\n".join(lines)


def sarif_table(corpus: dict[str, Any], comparisons: list[dict[str, Any]], sample: dict[str, Any]) -> str:
    lines = [f"SARIF scored on {corpus['name']} ({corpus['kind']}): {sample['cases']} of {sample['of']} cases"
             + (f", stratified sample, seed {sample['seed']}" if sample.get("requested") else "")
             + "; a case is flagged by a result carrying its CWE in its file (and lines, when the truth has them)"]
    for comp in comparisons:
        head = (f"{'category':16} {'cases':>5} | {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4} {'TPR':>5} {'FPR':>5} "
                f"{'score':>6} | {'prec.':>5} {'F1':>5}")
        lines += ["", f"{comp['tool']}  ({comp['sarif']}; {comp['flags']} flags, {comp['unmatched_flags']} hit no case)",
                  head, "-" * len(head)]
        for name, row in comp["by_category"].items():
            lines.append(f"{name[:16]:16} {row['cases']:>5} | {_counts(row)} | {_f(row['precision'])} {_f(row['f1'])}")
        lines.append("-" * len(head))
        row = comp["overall"]
        lines.append(f"{'overall':16} {row['cases']:>5} | {_counts(row)} | {_f(row['precision'])} {_f(row['f1'])}")
        avg = comp["category_average"]
        lines.append(f"{'category average':16} {'':>5} | {' ' * 19} {_f(avg['tpr'])} {_f(avg['fpr'])} "
                     f"{_f(avg['score'], 6)} | {_f(avg['precision'])} {'-':>5}")
    return "\n".join(lines)
