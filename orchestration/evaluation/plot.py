"""The eval plot as a self-contained SVG (no plotting dependency).

Left panel: per category, TPR and FPR before verification (pale) and after (solid), as
horizontal bars on 0..1, with each compared tool's TPR (black tick) and FPR (grey tick).
Right panel: precision against recall, per category (small dots, before hollow -> after
solid, joined by a line) and overall (large, with an arrow from before to after), and
each compared tool's overall point (a square). A figure whose denominator is 0 (no
flag, so no precision) is left out rather than drawn as 0.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from refute.orchestration.providers.base import provider_label

TPR_COLORS = ("#9ecae1", "#2171b5")  # before, after
FPR_COLORS = ("#fcae91", "#cb181d")
TOOL_COLORS = ("#000000", "#6a51a3", "#238b45", "#8c6d31")


def render_svg(result: dict[str, Any]) -> str:
    """`result`: EvalResult.to_dict() (or the same keys: before, after, comparisons, ...)."""
    categories = sorted(result["after"]["by_category"])
    row_h, bar_h = 34, 7
    left_w, panel_w, gap = 120, 360, 80
    top = 70
    height = max(top + len(categories) * row_h + 90, 560)
    width = left_w + panel_w + gap + 380 + 40
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        _text(20, 24, _title(result), size=15, weight="bold"),
        _text(20, 44, _subtitle(result), size=11, fill="#555"),
    ]
    # --- left panel: TPR / FPR per category ----------------------------------------------
    x0 = left_w
    out.append(_text(x0, top - 10, "TPR and FPR per category (pale: before verification, solid: after)", size=11))
    for tick in range(0, 11, 2):
        x = x0 + panel_w * tick / 10
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + len(categories) * row_h}" '
                   f'stroke="#eee"/>')
        out.append(_text(x, top + len(categories) * row_h + 14, f"{tick / 10:.1f}", anchor="middle", size=10))
    comparisons = result.get("comparisons") or []
    for i, name in enumerate(categories):
        y = top + i * row_h + 3
        out.append(_text(x0 - 8, y + 2 * bar_h + 2, name, anchor="end"))
        bars = [("tpr", "before", TPR_COLORS[0]), ("tpr", "after", TPR_COLORS[1]),
                ("fpr", "before", FPR_COLORS[0]), ("fpr", "after", FPR_COLORS[1])]
        for j, (metric, when, color) in enumerate(bars):
            value = (result[when]["by_category"].get(name) or {}).get(metric)
            if value is None:
                continue
            out.append(f'<rect x="{x0}" y="{y + j * bar_h:.1f}" width="{panel_w * value:.1f}" height="{bar_h - 1}" '
                       f'fill="{color}"><title>{escape(name)} {metric.upper()} {when}: {value:.3f}</title></rect>')
        for k, comp in enumerate(comparisons):
            row = comp["by_category"].get(name) or {}
            for metric, offset in (("tpr", 0), ("fpr", 2)):
                if row.get(metric) is None:
                    continue
                x = x0 + panel_w * row[metric]
                color = TOOL_COLORS[k % len(TOOL_COLORS)] if metric == "tpr" else "#999"
                out.append(f'<line x1="{x:.1f}" y1="{y + offset * bar_h:.1f}" x2="{x:.1f}" '
                           f'y2="{y + (offset + 2) * bar_h:.1f}" stroke="{color}" stroke-width="2">'
                           f'<title>{escape(comp["tool"])} {escape(name)} {metric.upper()}: {row[metric]:.3f}</title>'
                           f'</line>')
    legend_y = top + len(categories) * row_h + 34
    items = [("TPR before", TPR_COLORS[0]), ("TPR after", TPR_COLORS[1]), ("FPR before", FPR_COLORS[0]),
             ("FPR after", FPR_COLORS[1])]
    for k, comp in enumerate(comparisons):
        items.append((f"{comp['tool']} TPR / FPR (ticks)", TOOL_COLORS[k % len(TOOL_COLORS)]))
    for k, (label, color) in enumerate(items):
        lx = x0 + (k % 3) * 130 - 100
        ly = legend_y + (k // 3) * 16
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{color}"/>')
        out.append(_text(lx + 14, ly, label, size=10))
    # --- right panel: precision vs recall ---------------------------------------------------
    px, py, size = left_w + panel_w + gap, top, 360
    out.append(_text(px, top - 10, "precision vs recall (hollow: before, solid: after)", size=11))
    out.append(f'<rect x="{px}" y="{py}" width="{size}" height="{size}" fill="none" stroke="#999"/>')
    for tick in range(0, 11, 2):
        v = tick / 10
        out.append(_text(px + size * v, py + size + 14, f"{v:.1f}", anchor="middle", size=10))
        out.append(_text(px - 6, py + size - size * v + 4, f"{v:.1f}", anchor="end", size=10))
        out.append(f'<line x1="{px + size * v:.1f}" y1="{py}" x2="{px + size * v:.1f}" y2="{py + size}" stroke="#f2f2f2"/>')
        out.append(f'<line x1="{px}" y1="{py + size - size * v:.1f}" x2="{px + size}" y2="{py + size - size * v:.1f}" '
                   f'stroke="#f2f2f2"/>')
    out.append(_text(px + size / 2, py + size + 32, "recall (TPR)", anchor="middle"))
    out.append(_text(px - 36, py + size / 2, "precision", anchor="middle", rotate=True))

    def point(row: dict[str, Any]) -> tuple[float, float] | None:
        if row.get("recall") is None or row.get("precision") is None:
            return None
        return px + size * row["recall"], py + size - size * row["precision"]

    for name in categories:
        a, b = point(result["before"]["by_category"].get(name) or {}), point(result["after"]["by_category"].get(name) or {})
        if a and b:
            out.append(f'<line x1="{a[0]:.1f}" y1="{a[1]:.1f}" x2="{b[0]:.1f}" y2="{b[1]:.1f}" stroke="#bbb"/>')
        if a:
            out.append(f'<circle cx="{a[0]:.1f}" cy="{a[1]:.1f}" r="3" fill="white" stroke="#2171b5">'
                       f'<title>{escape(name)} before</title></circle>')
        if b:
            out.append(f'<circle cx="{b[0]:.1f}" cy="{b[1]:.1f}" r="3" fill="#2171b5">'
                       f'<title>{escape(name)} after</title></circle>')
    a, b = point(result["before"]["overall"]), point(result["after"]["overall"])
    out.append('<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="6" refY="3" orient="auto">'
               '<path d="M0,0 L6,3 L0,6 z" fill="#08306b"/></marker></defs>')
    if a and b:
        out.append(f'<line x1="{a[0]:.1f}" y1="{a[1]:.1f}" x2="{b[0]:.1f}" y2="{b[1]:.1f}" stroke="#08306b" '
                   f'stroke-width="2" marker-end="url(#arrow)"/>')
    if a:
        out.append(f'<circle cx="{a[0]:.1f}" cy="{a[1]:.1f}" r="7" fill="white" stroke="#08306b" stroke-width="2">'
                   f'<title>overall before: precision {result["before"]["overall"]["precision"]}, '
                   f'recall {result["before"]["overall"]["recall"]}</title></circle>')
    if b:
        out.append(f'<circle cx="{b[0]:.1f}" cy="{b[1]:.1f}" r="7" fill="#08306b">'
                   f'<title>overall after: precision {result["after"]["overall"]["precision"]}, '
                   f'recall {result["after"]["overall"]["recall"]}</title></circle>')
    for k, comp in enumerate(comparisons):
        c = point(comp["overall"])
        if c:
            color = TOOL_COLORS[k % len(TOOL_COLORS)]
            out.append(f'<rect x="{c[0] - 5:.1f}" y="{c[1] - 5:.1f}" width="10" height="10" fill="{color}">'
                       f'<title>{escape(comp["tool"])} overall</title></rect>')
            out.append(_text(c[0] + 8, c[1] + 4, comp["tool"], size=10))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _title(result: dict[str, Any]) -> str:
    return f"refute eval: {result.get('workflow', '?')} on {result['corpus']['name']}"


def _subtitle(result: dict[str, Any]) -> str:
    sample = result.get("sample") or {}
    provider = result.get("provider", "?")
    label = provider_label(provider)  # scripted and the local demo model say what they are
    run = result.get("run") or {}
    return (f"{sample.get('cases', '?')} of {sample.get('of', '?')} cases (seed {sample.get('seed')}); "
            f"provider: {label}; run {run.get('id', '?')} {run.get('status', '')}")


def _text(x: float, y: float, text: str, *, size: int = 12, anchor: str = "start", weight: str = "normal",
          fill: str = "#222", rotate: bool = False) -> str:
    transform = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{fill}"{transform}>{escape(str(text))}</text>')
