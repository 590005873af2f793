"""Self-contained HTML pages with inline SVG charts: one file a manager can forward, nothing to fetch.

Hand-written SVG instead of a plotting library: three chart shapes are all the reports need, and this keeps
matplotlib (and its fonts and backends) out of a server install.
"""
from __future__ import annotations

from html import escape
from typing import Iterable, Mapping, Sequence

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#111827;max-width:1100px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
.meta{color:#6b7280;margin-bottom:16px}table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #f3f4f6;vertical-align:top}th{background:#f9fafb}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.ok{background:#dcfce7;color:#166534}.warn{background:#fef3c7;color:#92400e}.bad{background:#fee2e2;color:#991b1b}
.muted{color:#6b7280}pre{background:#f9fafb;padding:8px;overflow:auto;font-size:12px}svg{max-width:100%}
"""

VERDICT_CLASS = {"ok": "ok", "pass": "ok", "ready": "ok", "done": "ok", "answer": "ok", "clarify": "warn",
                 "escalate": "bad", "control": "warn", "outdated": "warn", "warn": "warn",
                 "contradictory": "bad", "missing": "bad", "fail": "bad", "not ready": "bad"}


def badge(text: str) -> str:
    return f'<span class="badge {VERDICT_CLASS.get(str(text).lower(), "warn")}">{escape(str(text))}</span>'


def table(headers: Sequence[str], rows: Iterable[Sequence], numeric: Sequence[int] = (), raw: Sequence[int] = ()) -> str:
    """`raw` columns hold HTML made by this module (badges, charts); every other cell is escaped."""
    head = "".join(f'<th class="{"num" if i in numeric else ""}">{escape(h)}</th>' for i, h in enumerate(headers))
    body = []
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            text = str(v) if i in raw else escape("" if v is None else str(v))
            cells.append(f'<td class="{"num" if i in numeric else ""}">{text}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def bar_chart(labels: Sequence[str], values: Sequence[float], width: int = 640, bar: int = 18,
              fmt: str = "{:g}", color: str = PALETTE[0]) -> str:
    """Horizontal bars, one per label: ranking by volume reads best sideways."""
    if not labels:
        return '<p class="muted">no data</p>'
    label_w, pad = 190, 4
    top = max(max(values), 1e-9)
    h = len(labels) * (bar + pad) + pad
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" role="img">']
    for i, (lab, v) in enumerate(zip(labels, values)):
        y = pad + i * (bar + pad)
        w = max(1.0, (width - label_w - 70) * (v / top))
        parts.append(f'<text x="{label_w - 6}" y="{y + bar - 5}" text-anchor="end" font-size="12">'
                     f'{escape(str(lab)[:30])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" fill="{color}" rx="2"/>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + bar - 5}" font-size="12">{escape(fmt.format(v))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(series: Mapping[str, Sequence[tuple[str, float | None]]], width: int = 640, height: int = 220,
               fmt: str = "{:.0%}", y_max: float | None = None) -> str:
    """Lines over shared x labels (weeks); None leaves a gap. A legend names each series."""
    xs = sorted({x for pts in series.values() for x, _ in pts})
    vals = [v for pts in series.values() for _, v in pts if v is not None]
    if not xs or not vals:
        return '<p class="muted">no data</p>'
    top = y_max if y_max is not None else max(max(vals), 1e-9)
    left, right, tb, bottom = 48, 30, 12, 40
    iw, ih = width - left - right, height - tb - bottom
    xpos = {x: left + (iw * i / max(len(xs) - 1, 1)) for i, x in enumerate(xs)}

    def ypos(v: float) -> float:
        return tb + ih * (1 - v / top)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 18 * len(series)}" role="img">',
             f'<line x1="{left}" y1="{tb + ih}" x2="{left + iw}" y2="{tb + ih}" stroke="#9ca3af"/>']
    for frac in (0, 0.5, 1):
        y = ypos(top * frac)
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#6b7280">'
                     f'{escape(fmt.format(top * frac))}</text>')
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + iw}" y2="{y:.1f}" stroke="#f3f4f6"/>')
    step = max(1, len(xs) // 8)
    for i, x in enumerate(xs):
        if i % step == 0:
            parts.append(f'<text x="{xpos[x]:.1f}" y="{tb + ih + 16}" text-anchor="middle" font-size="11" '
                         f'fill="#6b7280">{escape(str(x)[-5:])}</text>')
    for k, (name, pts) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        segs, cur = [], []
        for x, v in sorted(pts):
            if v is None:
                if cur:
                    segs.append(cur)
                cur = []
            else:
                cur.append(f"{xpos[x]:.1f},{ypos(v):.1f}")
        if cur:
            segs.append(cur)
        for seg in segs:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(seg)}"/>')
            for pt in seg:
                cx, cy = pt.split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"/>')
        ly = height + 4 + 18 * k
        parts.append(f'<rect x="{left}" y="{ly}" width="12" height="12" fill="{color}"/>'
                     f'<text x="{left + 18}" y="{ly + 11}" font-size="12">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str]]) -> str:
    """sections: (heading, HTML made with this module's helpers)."""
    body = "".join(f"<h2>{escape(h)}</h2>{html}" for h, html in sections)
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1><div class=meta>{escape(subtitle)}</div>"
            f"{body}</body></html>")
