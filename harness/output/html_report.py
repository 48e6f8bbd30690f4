"""``harness report``: saved runs as ONE self-contained HTML file, led by what changed.

The page, its styles and its script are files in ``www/`` (package data, as asv keeps its ``www/``), inlined
at write time together with the data; nothing is fetched, so the file opens from ``file://`` with no
server and no network.  Python decides everything (verdicts, order, table cells, axes); the page's script
only draws.  When it has drawn, it sets ``<body data-ready="1">`` (``"error"`` and a message in ``#error``
if it failed).

Sections, in order (criterion.rs's per-benchmark change and asv's regressions page as anchors):

1. **What changed**: each case of the latest run against the previous run of the same environment, as
   the Hodges–Lehmann ratio with its exact CI, Mann–Whitney p Holm-corrected over the cases and a plain
   verdict, biggest change first, with the rounds of both runs as a strip; where the rounds can never reach
   significance it says so and names the rounds needed (:func:`harness.analysis.stats.attainable`).
2. **The latest run** in the terminal table's columns.
3. **History**: each case's medians as a ratio to its first run, every panel on one shared axis, runs
   labelled with date and commit, in the order of section 1; the fitted steps marked.
4. Effects (when given), the per-phase breakdown, verify (a summary, only failures expanded), runs and
   environments.
"""
from __future__ import annotations

import html
import json
import math
import re
from datetime import datetime, timezone
from importlib import resources

from harness import __version__
from harness.analysis import stats
from harness.analysis.changepoints import THRESHOLD
from harness.analysis.compare import ALPHA
from harness.analysis.history import Run, Series, env_key
from harness.core.roles import ROLES
from harness.output import bench_table
from harness.output.model import CaseResult, Results


def _num(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def _ms(seconds):
    return seconds * 1e3 if _num(seconds) is not None else None


# --- 1. what changed since the previous run ----------------------------------------------------------

_RANK = {"failed": 0, "slower": 1, "faster": 1}  # then every other verdict, by the size of its ratio


def changes(runs: list[Run], series: list[Series], alpha: float = ALPHA, threshold: float = THRESHOLD) -> dict:
    """Every case of the latest run against its previous ok run in the same environment, biggest change first.

    Verdicts: ``slower``/``faster`` (Holm-adjusted Mann–Whitney p < ``alpha`` over the cases tested, and a
    ratio beyond ``threshold``), ``no change detected``, ``cannot tell`` (these rounds could never have
    reached significance), ``failed``/``skipped`` in the latest run, ``new`` (no earlier ok run)."""
    latest, names = len(runs) - 1, labels(runs)
    rows, tested = [], []
    for s in series:
        if not s.points or s.points[-1].run != latest:
            continue
        last = s.points[-1]
        earlier = [p for p in s.points[:-1] if p.status == "ok"]
        prev = earlier[-1] if earlier else None
        row = {"case": s.case, "label": names.get(s.name, s.case), "status": last.status,
               "prev_run": runs[prev.run].label if prev else None, "prev_median": prev.median if prev else None,
               "median": last.median, "prev_rounds": (prev.data or []) if prev else [], "rounds": last.data or [],
               "ratio": None, "ci": None, "ci_level": None, "p": None, "p_holm": None, "verdict": "", "why": ""}
        rows.append(row)
        if last.status != "ok":
            row.update(verdict=last.status, why=last.error)
        elif prev is None:
            row.update(verdict="new", why="no earlier ok run of this case in this environment")
        elif not (prev.data and last.data) or min(prev.data + last.data) <= 0:
            row.update(verdict="cannot tell", why="no raw rounds stored", ratio=last.median / prev.median)
        else:
            tested.append((row, stats.change(s.case, prev.data, last.data)))
    stats.judge([c for _, c in tested], alpha, threshold)
    unreachable: dict[str, int] = {}
    for row, c in tested:
        row.update(ratio=c.ratio.estimate, ci=[c.ratio.ci.low, c.ratio.ci.high], ci_level=c.ratio.ci.level,
                   p=c.p, p_holm=c.p_holm)
        why = stats.attainable(len(c.a), len(c.b), alpha, len(tested))
        if c.verdict != "same":
            row["verdict"] = c.verdict
        elif why:
            row.update(verdict="cannot tell", why=why)
            unreachable[why] = unreachable.get(why, 0) + 1
        else:
            row["verdict"] = "no change detected"
    rows.sort(key=lambda r: (_RANK.get(r["verdict"], 2), -abs(math.log(r["ratio"])) if r["ratio"] else math.inf,
                             r["case"]))
    return {"run": runs[latest].label, "rows": rows, "tested": len(tested), "alpha": alpha, "threshold": threshold,
            "unreachable": [{"why": why, "cases": n} for why, n in unreachable.items()],
            "rounds_needed": stats.min_rounds(stats.holm_floor(alpha, len(tested))) if tested else None}


def labels(runs: list[Run]) -> dict[str, str]:
    """Benchmark name -> the case's label in the results model (``scratch/gluon/scratch/gluon``,
    ``numpy (reference)``); an ok case names it before a failed or skipped one."""
    found: dict[str, str] = {}
    for run in runs:
        for c in Results.from_document(run.document).cases:
            if c.ok or (c.name not in found and c.label.strip("/")):
                found[c.name] = c.label
    return found


def headline(runs: list[Run], series: list[Series], found: dict) -> str:
    """One sentence: what the latest run changed.  Where the rounds could not have shown a change it says so,
    never "0 changes"."""
    rows = found["rows"]
    prev = sorted({r["prev_run"] for r in rows if r["prev_run"]})
    text = f"latest run {found['run']}" + (f" against {', '.join(prev)}" if prev else "") + ": "
    parts = []
    for verdict in ("failed", "slower", "faster", "no change detected", "cannot tell", "skipped", "new"):
        hits = [r for r in rows if r["verdict"] == verdict]
        if not hits:
            continue
        part = f"{len(hits)} {verdict}"
        if verdict in ("slower", "faster"):
            part += f" (up to ×{max(hits, key=lambda r: abs(math.log(r['ratio'])))['ratio']:.3g})"
        parts.append(part)
    text += ", ".join(parts) or "no cases"
    if found["unreachable"]:
        worst = max(found["unreachable"], key=lambda u: u["cases"])
        text += f" — {worst['why']}"
    steps = [t for s in series for t in s.detection.steps]
    text += f"; step detection over {len(runs)} runs: {len(steps)} step{'s' * (len(steps) != 1)}"
    if steps:
        confirmed = sum(t.significant for t in steps)
        never = sum(not t.significant and (t.min_p is None or t.min_p >= found["alpha"]) for t in steps)
        text += f", {confirmed} confirmed" + (f", {never} the rounds could never confirm" if never else "")
    return text


# --- 2. the latest run in the terminal's columns --------------------------------------------------------

def latest_table(run: Run) -> dict:
    """Every case of ``run`` (failed and skipped included), fastest first, exactly as ``harness bench`` shows it
    (:func:`harness.output.bench_table.cells`): its default columns, and every column (``--wide``) for the page's
    expandable table, each with the lines that explain its marks; cells carry the number they sort by."""
    results = Results.from_document(run.document)
    cases = results.sorted()

    def table(wide: bool) -> dict:
        chosen, body, notes = bench_table.cells(results, wide=wide)
        rows = []
        for c, line in zip(cases, body):
            row = {"case": c.case_id, "kind": "reference" if c.reference and c.ok else c.status}
            for col, text in zip(chosen, line):
                number = _sort_value(c, col)
                cell = {"text": text, **({"sort": number} if number is not None else {})}
                if col.key == "status" and c.unstable:
                    cell["title"] = "; ".join(c.unstable)
                row[col.key] = cell if text else None
            rows.append(row)
        return {"columns": [{"key": col.key, "label": col.header} for col in chosen], "rows": rows, "notes": notes}

    return {"default": table(False), "wide": table(True)}


def _sort_value(c: CaseResult, col) -> float | None:
    if col.key.startswith("vs_"):
        return c.ratios.get(col.key[3:])
    if col.key in ("median_ci", "ci"):
        return c.median_s if c.ok else None
    value = col.cell(c) if col.key != "status" else None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# --- 3. history ----------------------------------------------------------------------------------------

def history(runs: list[Run], series: list[Series], found: dict) -> dict:
    """Each series as medians over its first ok median, on one shared axis, in the order of ``found``."""
    rank = {r["case"]: i for i, r in enumerate(found["rows"])}
    latest, names = len(runs) - 1, labels(runs)

    def order(s: Series):  # failed now, then confirmed steps (biggest first), then the order of the changes
        in_latest = bool(s.points) and s.points[-1].run == latest
        failed = in_latest and s.points[-1].status == "failed"
        biggest = max((abs(math.log(t.ratio)) for t in s.changes if 0 < t.ratio < math.inf), default=0)
        return (not in_latest, not failed, not s.changes, -biggest, rank.get(s.case, len(rank)), s.case)

    panels, values = [], [1.0]
    for s in sorted(series, key=order):
        first = next((p.median for p in s.ok if p.median and p.median > 0), None)
        points = []
        for p in s.points:
            point = {"run": p.run, "status": p.status, "error": p.error, "ms": _ms(p.median)}
            if first and p.median is not None:
                point.update(ratio=p.median / first, q1=_div(p.q1, first), q3=_div(p.q3, first),
                             rounds=len(p.data) if p.data else None)
                values += [v for v in (point["ratio"], point["q1"], point["q3"]) if v is not None]
            points.append(point)
        detection = s.detection.as_dict()
        for seg in detection["segments"]:
            seg["level"] = _div(seg["level"], first)
        panels.append({"case": s.case, "label": names.get(s.name, s.case), "env": s.env_id, "first_ms": _ms(first),
                       "points": points, **detection, "measured": first is not None})
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.06 or 0.05
    return {"panels": panels, "y": [max(0.0, lo - pad), hi + pad]}


def _div(a, b):
    return a / b if a is not None and b else None


# --- 4. what each role choice costs --------------------------------------------------------------------

def effects_data(run: Run) -> dict:
    """Role main effects and two-way interactions of the latest run (:mod:`harness.analysis.effects`), one
    table per workload, context and response; main effects, then interactions, each real first (the interval
    excludes none), biggest first."""
    analyses = Results.from_document(run.document).effects(only_factorial=True)
    if not analyses:
        return {"notes": [f"Run {run.label} has no factorial of role choices to estimate (two roles varied over "
                          "at least four combinations; harness effects)."], "tables": []}
    notes, tables = [], []
    for a in analyses:
        varied = ", ".join(f"{r} ({'/'.join(lv)})" for r, lv in a.factors.items())
        fixed = "; held fixed: " + ", ".join(f"{r} {lv}" for r, lv in a.fixed.items()) if a.fixed else ""
        notes.append(f"{a.group}: {a.cells} of {a.grid} combinations of {varied}{fixed}; {a.confidence:.0%} CIs "
                     f"from the {a.replicates}, Bonferroni-adjusted per family (main effects; interactions)."
                     + "".join(f" Missing: {'/'.join(lv.values())} ({why})." for lv, why in a.missing))
        responses = [("time", "epoch time (ratio)")]
        if a.quality_metric:
            responses.append((a.quality_metric, "test accuracy (difference)" if a.quality_metric == "test_acc"
                              else "final loss (ratio)"))
        for response, what in responses:
            rows = [_effect_row(e) for kind in ("main", "interaction")
                    for e in sorted(a.of(response, kind), key=lambda e: (not e.real, -_size(e)))]
            if rows:
                tables.append({"title": f"{a.group}: on {what}", "id": f"effects-{a.group}-{response}",
                               "columns": ["role", "choice", "effect", "CI", "verdict"], "rows": rows})
    return {"notes": notes, "tables": tables}


def _size(e) -> float:
    return 0.0 if e.estimate is None else abs(e.estimate)  # log ratio or difference: 0 is no effect


def _effect_row(e) -> dict:
    if e.kind == "main":
        (role, level, ref), = e.terms
        what = [role, f"{level} instead of {ref}"]
    else:
        (r1, l1, _), (r2, l2, _) = e.terms
        what = [f"{r1}×{r2}", f"{l1} {r1} with {l2} {r2}"]

    values = [e.scaled(x) for x in (e.low, e.estimate, e.high) if x is not None]
    digits = next((d for d in range(3, 7) if len({f"{v:.{d}g}" for v in values}) == len(set(values))), 6)

    def shown(x):  # enough digits that the estimate and its bounds read apart
        return None if x is None else (f"×{x:.{digits}g}" if e.log_scale else f"{x:+.{digits}g}")

    low, high = e.scaled(e.low), e.scaled(e.high)
    ci = f"{shown(low)[e.log_scale:]}–{shown(high)[e.log_scale:]}" if low is not None else e.note
    verdict = ""
    if e.real:  # "< 1%": real, and too small to matter
        small = max(abs(e.low), abs(e.high)) < (math.log(1.01) if e.log_scale else 0.01)
        verdict = "real, < 1%" if small else "real"
    estimate = e.ratio
    return {"role": what[0], "choice": what[1],
            "effect": {"text": shown(estimate), "sort": estimate} if estimate is not None else e.note,
            "CI": ci, "verdict": verdict}


# --- the rest ------------------------------------------------------------------------------------------

def breakdown(run: Run) -> list[dict]:
    out = []
    for c in Results.from_document(run.document).cases:
        phases = c.metrics.get("breakdown_s_per_step")
        if c.ok and isinstance(phases, dict) and phases:
            out.append({"case": c.case_id, "phases": {k: v for k, v in phases.items() if _num(v) is not None}})
    return out


def run_data(r: Run) -> dict:
    return {"label": r.label, "number": r.number, "date": r.datetime, "commit": r.commit.get("id"),
            "short": r.short_commit, "dirty": bool(r.commit.get("dirty")), "branch": r.commit.get("branch"),
            "name": r.name, "env": r.env_id, "machine": r.machine_id, "file": str(r.path), "ok": len(r.benchmarks),
            "failed": sum(e.get("status") == "failed" for e in r.not_run),
            "skipped": sum(e.get("status") == "skipped" for e in r.not_run),
            "interrupted": bool((r.document.get("harness") or {}).get("interrupted"))}


def verify_data(doc: dict) -> dict:
    rows = []
    for r in doc.get("rows") or []:
        combo = r.get("combination") or {}
        ref = r.get("reference") or {}
        rows.append({
            "combination": "/".join(str(combo.get(k, "")) for k in ROLES) + ("+fused" if combo.get("fused") else ""),
            "reference": "/".join(str(ref.get(k, "")) for k in ROLES) if isinstance(ref, dict) else str(ref),
            "final_loss": _num(r.get("final_loss")), "max_abs_diff": _num(r.get("max_abs_diff")),
            "status": ("ok" if r.get("ok") else "DIFFERS") if not r.get("error") else f"FAILED: {r['error']}"})
    bad = sum(r["status"] != "ok" for r in rows)
    return {"path": doc.get("path"), "ok": bool(doc.get("ok")), "tolerance": doc.get("tolerance"), "rows": rows,
            "failures": bad}


def payload(runs: list[Run], series: list[Series], verify: list[dict], title: str, method: str,
            alpha: float = ALPHA, threshold: float = THRESHOLD, effects: dict | None = None) -> dict:
    found = changes(runs, series, alpha, threshold)
    return {
        "title": title,
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "version": __version__,
        "method": method,
        "headline": headline(runs, series, found),
        "changes": found,
        "runs": [run_data(r) for r in runs],
        "envs": {r.env_id: env_key(r.document.get("machine_info") or {}) for r in runs},
        "latest": {"run": len(runs) - 1, **latest_table(runs[-1])},
        "history": history(runs, series, found),
        "effects": effects if effects is not None else effects_data(runs[-1]),
        "breakdown": breakdown(runs[-1]),
        "verify": [verify_data(v) for v in verify],
    }


def render(runs: list[Run], series: list[Series], verify: list[dict] | None = None,
           title: str = "mxnet-harness report", method: str = "", alpha: float = ALPHA,
           threshold: float = THRESHOLD, effects: dict | None = None) -> str:
    """The whole page."""
    return page(payload(runs, series, verify or [], title, method, alpha, threshold, effects))


def page(data: dict) -> str:
    """``www/report.html`` with the styles, the script and ``data`` inlined."""
    text = json.dumps(_clean(data), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")  # inert inside <script>
    parts = {"__TITLE__": html.escape(data["title"]), "__STYLE__": asset("report.css"), "__DATA__": text,
             "__SCRIPT__": asset("report.js")}
    return re.sub("__(TITLE|STYLE|DATA|SCRIPT)__", lambda m: parts[m.group(0)], asset("report.html"))  # one pass


def asset(name: str) -> str:
    """A front-end file shipped as package data (``harness/output/www/``)."""
    return resources.files("harness.output").joinpath("www").joinpath(name).read_text(encoding="utf8")


def _clean(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj
