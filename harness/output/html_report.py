"""``harness report``: runs and their series as ONE self-contained HTML file.

The page, its styles and its script are files in ``www/`` (package data, as asv keeps its ``www/``), inlined
at write time together with the data; nothing is fetched, so the file opens from ``file://`` with no
server and no network.  Python decides everything (series, fits, steps, table values); the page's
script only draws: the sortable table, an SVG plot per case, the breakdown bars.  When it has drawn,
it sets ``<body data-ready="1">`` (``"error"`` and a message in ``#error`` if it failed).
"""
from __future__ import annotations

import html
import json
import math
import re
from importlib import resources
from datetime import datetime, timezone

from harness import __version__
from harness.analysis.history import Run, Series, env_key

#: The latest table's columns, in order: ours first, then any other scalar ``extra_info`` metric.
KNOWN = [
    ("epoch_median_ms", "epoch med (ms)"), ("epoch_iqr_ms", "IQR (ms)"), ("epoch_min_ms", "min (ms)"),
    ("epoch_max_ms", "max (ms)"), ("rounds", "rounds"), ("warmup", "warm-up"), ("steps_per_epoch", "steps/epoch"),
    ("us_per_step", "µs/step"), ("samples_per_s", "samples/s"), ("target_loss", "target loss"),
    ("time_to_target_s", "to target (s)"), ("epochs_to_target", "epochs to target"), ("final_loss", "final loss"),
    ("param_error", "param err"), ("peak_rss_mib", "peak RSS (MiB)"),
]
_DERIVED = {"epoch_median_s", "epoch_iqr_s", "epoch_min_s"}  # shown in ms above
ROLE_KEYS = ("data", "model", "loss", "optimizer")


def _num(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def _combination(entry: dict) -> dict:
    info = entry.get("extra_info") or {}
    combo = info.get("combination") or entry.get("combination") or {}
    if "reference" in combo:
        return {"data": f"{combo['reference']} (reference)", "model": "", "loss": "", "optimizer": ""}
    out = {k: str(combo.get(k, "")) for k in ROLE_KEYS}
    if combo.get("fused"):
        out["optimizer"] += "+fused"
    return out


def latest_table(run: Run, series: list[Series], run_index: int) -> dict:
    """Every case of ``run``: roles, ctx, every metric, status; failed and skipped rows included."""
    rows = []
    change = {}
    for s in series:
        for step in s.detection.steps:
            if step.index == run_index:
                change[s.name] = f"{'' if step.significant else '? '}{step.kind} ×{step.ratio:.3g}"
    extra_keys: list[str] = []
    for b in run.benchmarks:
        info, stats = b.get("extra_info") or {}, b.get("stats") or {}
        row = {**_combination(b), "ctx": info.get("ctx", ""), "case": _case(b),
               "workload": (info.get("workload") or {}).get("name", "") if isinstance(info.get("workload"), dict) else "",
               "status": "reference" if "reference" in (info.get("combination") or {}) else "ok",
               "change": change.get(b.get("name"), "")}
        for key, seconds in (("epoch_median_ms", stats.get("median")), ("epoch_iqr_ms", stats.get("iqr")),
                             ("epoch_min_ms", stats.get("min")), ("epoch_max_ms", stats.get("max"))):
            row[key] = _num(seconds) * 1e3 if _num(seconds) is not None else None
        for key, value in info.items():
            if key in _DERIVED or isinstance(value, (dict, list)):
                continue
            row[key] = value
            if key not in extra_keys:
                extra_keys.append(key)
        row.setdefault("rounds", stats.get("rounds"))
        if "time_to_target_s" in row and row["time_to_target_s"] is None:
            row["time_to_target_s"] = "never"
        rows.append(row)
    for e in run.not_run:
        rows.append({**_combination(e), "ctx": e.get("ctx", ""), "case": _case(e),
                     "workload": e.get("workload") if isinstance(e.get("workload"), str) else "",
                     "status": f"{str(e.get('status')).upper()}: {e.get('error') or ''}", "change": ""})
    known = [k for k, _ in KNOWN]
    metric_keys = known + [k for k in extra_keys if k not in known and k not in ("ctx",)]
    columns = [{"key": k, "label": k} for k in (*ROLE_KEYS, "ctx", "workload", "status", "change")]
    columns[-1]["label"] = "change at this run"
    labels = dict(KNOWN)
    columns += [{"key": k, "label": labels.get(k, k)} for k in metric_keys if any(k in r for r in rows)]
    return {"columns": columns, "rows": [{k: _finite(v) for k, v in r.items()} for r in rows]}


def _case(entry: dict) -> str:
    name = str(entry.get("name"))
    return str(entry.get("param") or (name[name.index("[") + 1:-1] if "[" in name and name.endswith("]") else name))


def _finite(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


def series_data(s: Series) -> dict:
    points = []
    for p in s.points:
        points.append({"run": p.run, "status": p.status, "median": p.median, "q1": p.q1, "q3": p.q3,
                       "rounds": len(p.data) if p.data else None, "error": p.error})
    return {"case": s.case, "env": s.env_id, "points": points, **s.detection.as_dict()}


def breakdown(run: Run) -> list[dict]:
    out = []
    for b in run.benchmarks:
        phases = (b.get("extra_info") or {}).get("breakdown_s_per_step")
        if isinstance(phases, dict) and phases:
            out.append({"case": _case(b), "phases": {k: v for k, v in phases.items() if _num(v) is not None}})
    return out


def run_data(r: Run) -> dict:
    return {"label": r.label, "number": r.number, "date": r.datetime, "commit": r.commit.get("id"),
            "dirty": bool(r.commit.get("dirty")), "branch": r.commit.get("branch"), "name": r.name, "env": r.env_id,
            "machine": r.machine_id, "file": str(r.path), "ok": len(r.benchmarks),
            "failed": sum(e.get("status") == "failed" for e in r.not_run),
            "skipped": sum(e.get("status") == "skipped" for e in r.not_run),
            "interrupted": bool((r.document.get("harness") or {}).get("interrupted")),
            "variables": ((r.document.get("machine_info") or {}).get("harness") or {}).get("env") or {}}


def verify_data(doc: dict) -> dict:
    rows = []
    for r in doc.get("rows") or []:
        combo = r.get("combination") or {}
        ref = r.get("reference") or {}
        rows.append({"combination": "/".join(str(combo.get(k, "")) for k in ROLE_KEYS) + ("+fused" if combo.get("fused") else ""),
                     "reference": "/".join(str(ref.get(k, "")) for k in ROLE_KEYS) if isinstance(ref, dict) else str(ref),
                     "final_loss": _finite(r.get("final_loss")), "max_abs_diff": _finite(r.get("max_abs_diff")),
                     "status": ("ok" if r.get("ok") else "DIFFERS") if not r.get("error") else f"FAILED: {r['error']}"})
    return {"path": doc.get("path"), "ok": bool(doc.get("ok")), "tolerance": doc.get("tolerance"), "rows": rows}


def payload(runs: list[Run], series: list[Series], verify: list[dict], title: str, method: str) -> dict:
    latest = len(runs) - 1
    return {
        "title": title,
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "version": __version__,
        "method": method,
        "runs": [run_data(r) for r in runs],
        "envs": {r.env_id: env_key(r.document.get("machine_info") or {}) for r in runs},
        "latest": {"run": latest, **latest_table(runs[latest], series, latest)},
        "series": [series_data(s) for s in series],
        "breakdown": breakdown(runs[latest]),
        "verify": [verify_data(v) for v in verify],
    }


def render(runs: list[Run], series: list[Series], verify: list[dict] | None = None,
           title: str = "mxnet-harness report", method: str = "") -> str:
    """The whole page."""
    data = json.dumps(_clean(payload(runs, series, verify or [], title, method)), default=str)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")  # inert inside <script>
    parts = {"__TITLE__": html.escape(title), "__STYLE__": asset("report.css"), "__DATA__": data,
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
