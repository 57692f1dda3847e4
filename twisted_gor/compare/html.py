# -*- test-case-name: tests.test_compare_html -*-
"""
The comparison report as one self-contained HTML page
(C{--output-compare report.html}): a summary, a table per endpoint, examples
of each difference with the JSON path and both values, and production
against staging latency distributions as inline SVG. No script, no style
sheet, font or image from anywhere: the page is one file.
"""

from __future__ import annotations

from html import escape
from typing import Any, Mapping, Sequence

from twisted_gor.compare.diff import CATEGORIES
from twisted_gor.stats import Histogram

MAX_CHARTS = 20
"""Endpoints with a latency chart (the busiest ones); the page stays small."""

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#1d2433;background:#fff}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #dde}
table{border-collapse:collapse;margin:.5em 0}th,td{padding:.3em .7em;border:1px solid #dde;text-align:right}
th{background:#f3f5fa}td.l,th.l{text-align:left}td.bad{background:#fde8e8}td.ok{background:#e8f7ec}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #dde;border-radius:6px;padding:.6em 1em;min-width:8em}
.card b{display:block;font-size:1.6em}code{background:#f3f5fa;padding:0 .2em;word-break:break-all}
.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:middle}
small{color:#667}
"""

_PROD = "#3b6fd4"
_STAGING = "#e8833a"


def _label(bound: float) -> str:
    if bound == float("inf"):
        return "more"
    if bound < 1:
        return f"{bound * 1000:g}ms"
    return f"{bound:g}s"


def _quantiles(h: Histogram | None) -> str:
    if h is None or not h.count:
        return "no data"
    parts = []
    for q in (0.5, 0.9, 0.99):
        value = h.quantile(q)
        shown = "over 10s" if value == float("inf") else f"≤{_label(value or 0)}"
        parts.append(f"p{int(q * 100)} {shown}")
    return ", ".join(parts) + f" ({h.count})"


def latencyChart(production: Histogram | None, staging: Histogram | None, title: str) -> str:
    """
    An inline SVG bar chart: the share of requests per latency bucket,
    production and staging side by side.
    """
    series = [(h, colour) for h, colour in ((production, _PROD), (staging, _STAGING))]
    bounds = (production or staging or Histogram()).bounds
    buckets = len(bounds) + 1
    width, height, left, bottom = 620, 170, 40, 30
    slot = (width - left - 10) / buckets
    bar = slot * 0.38
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + bottom}" role="img"'
        f' viewBox="0 0 {width} {height + bottom}"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{height}" x2="{width - 10}" y2="{height}" stroke="#889"/>',
    ]
    for pct in (0, 50, 100):
        y = height - (height - 10) * pct / 100
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="#667">{pct}%</text>')
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#eef"/>')
    for i in range(buckets):
        x0 = left + i * slot + slot * 0.1
        for j, (h, colour) in enumerate(series):
            if h is None or not h.count:
                continue
            share = h.counts[i] / h.count
            if not share:
                continue
            barHeight = (height - 10) * share
            out.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{height - barHeight:.1f}" width="{bar:.1f}" height="{barHeight:.1f}"'
                f' fill="{colour}"><title>{share * 100:.1f}%</title></rect>'
            )
        label = _label(bounds[i]) if i < len(bounds) else "more"
        out.append(
            f'<text x="{x0 + bar:.1f}" y="{height + 14}" font-size="10" text-anchor="middle" fill="#445">{label}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _sum(histograms: Sequence[Histogram]) -> Histogram | None:
    if not histograms:
        return None
    total = Histogram(histograms[0].bounds)
    for h in histograms:
        total.counts = [a + b for a, b in zip(total.counts, h.counts)]
        total.sum += h.sum
        total.count += h.count
    return total


def renderReport(
    report: Mapping[str, Any],
    endpoints: Mapping[str, Any],
    latencies: Mapping[str, Mapping[str, Histogram]],
    title: str = "gor comparison report",
) -> str:
    """
    The page.

    @param report: the JSON report (L{twisted_gor.compare.report.Report.asDict}).
    @param endpoints: L{twisted_gor.compare.report.EndpointReport} by endpoint.
    @param latencies: C{{endpoint: {"production": h, "staging": h}}}.
    """
    totals = report.get("totals", {})
    compared = totals.get("compared", 0)
    same = totals.get("same", 0)
    unpaired = sum(v for k, v in totals.items() if k.startswith("unpaired."))
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        "<p><small>Production responses (recorded) against staging's (replayed), paired by request id.</small></p>",
        '<h2 id="summary">Summary</h2><div class="cards">',
    ]
    cards = [("compared pairs", compared), ("identical", same), ("different", compared - same)]
    cards += [(f"{c} differs", totals.get("differs." + c, 0)) for c in CATEGORIES]
    cards.append(("unpaired", unpaired))
    for name, value in cards:
        out.append(f'<div class="card"><b>{value}</b>{escape(name)}</div>')
    out.append("</div>")
    # per endpoint
    out.append('<h2 id="endpoints">Endpoints</h2><table><tr><th class="l">endpoint</th><th>pairs</th><th>identical</th>')
    out.extend(f"<th>{escape(c)} differs</th>" for c in CATEGORIES)
    out.append("<th>unpaired</th></tr>")
    for name, e in sorted(endpoints.items(), key=lambda kv: (-kv[1].compared, kv[0])):
        cells = [f'<td class="l"><code>{escape(name)}</code></td>', f"<td>{e.compared}</td>"]
        cells.append(f'<td class="{"ok" if e.same == e.compared and e.compared else ""}">{e.same}</td>')
        for c in CATEGORIES:
            count = e.differs[c].count if c in e.differs else 0
            cells.append(f'<td class="{"bad" if count else ""}">{count}</td>')
        lost = sum(u.count for u in e.unpaired.values())
        cells.append(f'<td class="{"bad" if lost else ""}">{lost}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    # examples
    out.append('<h2 id="examples">Examples of differences</h2>')
    any_example = False
    for name, e in sorted(endpoints.items()):
        for c in CATEGORIES:
            entry = e.differs.get(c)
            if entry is None or not entry.samples:
                continue
            any_example = True
            out.append(f"<h3><code>{escape(name)}</code>: {escape(c)} ({entry.count})</h3>")
            out.append('<table><tr><th class="l">request id</th><th class="l">where</th>'
                       '<th class="l">production</th><th class="l">staging</th></tr>')
            for sample in entry.samples:
                for d in sample["differences"]:
                    out.append(
                        f'<tr><td class="l"><code>{escape(sample["id"])}</code></td>'
                        f'<td class="l"><code>{escape(d["path"])}</code></td>'
                        f'<td class="l"><code>{escape(d["original"])}</code></td>'
                        f'<td class="l"><code>{escape(d["replayed"])}</code></td></tr>'
                    )
            out.append("</table>")
    if not any_example:
        out.append("<p>No differences.</p>")
    # latency
    out.append('<h2 id="latency">Latency: production against staging</h2>')
    out.append(
        f'<p class="legend"><span style="background:{_PROD}"></span>production'
        f'<span style="background:{_STAGING}"></span>staging'
        " <small>(share of each side's requests per latency bucket)</small></p>"
    )
    production = _sum([v["production"] for v in latencies.values() if "production" in v])
    staging = _sum([v["staging"] for v in latencies.values() if "staging" in v])
    if production is None and staging is None:
        out.append("<p>No latencies were recorded.</p>")
    else:
        out.append(f"<h3>All endpoints</h3><p>production: {_quantiles(production)}; staging: {_quantiles(staging)}</p>")
        out.append(latencyChart(production, staging, "all endpoints"))
        busiest = sorted(
            latencies.items(), key=lambda kv: -max((h.count for h in kv[1].values()), default=0)
        )[:MAX_CHARTS]
        for name, pair in busiest:
            p, s = pair.get("production"), pair.get("staging")
            out.append(
                f"<h3><code>{escape(name)}</code></h3><p>production: {_quantiles(p)}; staging: {_quantiles(s)}</p>"
            )
            out.append(latencyChart(p, s, name))
        if len(latencies) > MAX_CHARTS:
            out.append(f"<p><small>{len(latencies) - MAX_CHARTS} quieter endpoints not charted.</small></p>")
    settings = report.get("settings", {})
    out.append('<h2 id="settings">Settings</h2><table>')
    for key, value in sorted(settings.items()):
        out.append(f'<tr><th class="l">{escape(key)}</th><td class="l"><code>{escape(str(value))}</code></td></tr>')
    out.append("</table></body></html>")
    return "\n".join(out) + "\n"
