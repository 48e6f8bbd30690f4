"""``harness history`` and ``harness report``: saved runs over time, as tables and as one HTML file."""
from __future__ import annotations

from harness import api
from harness.analysis import history
from harness.analysis.changepoints import THRESHOLD
from harness.analysis.compare import ALPHA
from harness.output.render import table


def add_parser(sub, common) -> None:
    p = sub.add_parser(
        "history", parents=[common], help="saved runs, one case's trend, and the changes step detection finds",
        description="List the runs saved by harness bench --save/--autosave and the changes found over them: a "
        "piecewise-constant fit of each case's medians (steps under --threshold merged), each step confirmed by "
        "Mann–Whitney U on the raw rounds of the runs either side (p < --alpha).",
    )
    _add_selection(p)
    p.add_argument("--case", metavar="ID", help="show this case's trend run by run (its id, e.g. "
                   "seed-cpu-scratch-scratch-scratch-scratch, or a unique part of it)")
    p.add_argument("--format", default="simple", metavar="TABLEFMT", help="any tabulate format (default %(default)s)")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser(
        "report", parents=[common], help="one self-contained HTML file led by what changed since the previous run",
        description="Write one HTML file (scripts, styles and data inline; opens from file://, no server, no "
        "network): first each case of the latest run against the previous run of its environment (ratio with its "
        "CI, Holm-corrected Mann–Whitney verdict, the rounds of both; says when the rounds cannot reach "
        "significance and how many would), then the latest run in bench's columns, each case over the runs on "
        "one shared axis with detected changes marked, the per-phase breakdown when recorded, the verify status "
        "when given, and each run's environment.",
    )
    _add_selection(p)
    p.add_argument("-o", "--output", default="report.html", metavar="PATH", help="where to write (default %(default)s)")
    p.add_argument("--verify", action="append", default=[], metavar="JSON",
                   help="harness verify --json output to show as the verify status (repeatable)")
    p.add_argument("--title", default="mxnet-harness report", help="page title (default %(default)s)")
    p.set_defaults(func=cmd_report)


def _add_selection(p) -> None:
    p.add_argument("runs", nargs="*", metavar="RUN",
                   help="runs to use: files, or globs in the storage such as 0003 or Linux-CPython-3.11-64bit/0003_* "
                   "(default: every saved run)")
    p.add_argument("--storage", default=history.DEFAULT_STORAGE, metavar="DIR",
                   help="the run history (default %(default)s)")
    p.add_argument("--threshold", default=f"{THRESHOLD:.0%}", help="smallest step that counts (default %(default)s)")
    p.add_argument("--alpha", type=float, default=ALPHA,
                   help="Mann–Whitney U significance level for a step (default %(default)s)")


def _history(args) -> api.History:
    return api.history(args.runs, storage=args.storage, threshold=args.threshold, alpha=args.alpha)


def cmd_history(args) -> int:
    found = _history(args)
    runs, series, method = found.runs, found.series, found.method()
    if args.case:
        for s in found.case(args.case):
            _trend(runs, s, args.format)
        print("\n" + method)
        return 0
    print(table(run_rows(runs), RUN_COLUMNS, tablefmt=args.format))
    print(f"\n{len(runs)} runs, {len(series)} series (case × environment); environments:")
    envs = {r.env_id: r.env for r in runs}
    print(table([{"env": k, **_env_columns(v)} for k, v in envs.items()], ["env", *ENV_COLUMNS], tablefmt=args.format))
    steps = [(s, step) for s in series for step in s.detection.steps]
    if not steps:
        print(f"\nno changes: {method}")
        return 0
    print("\nsteps (" + method + "):")
    print(table([_step_row(runs, s, step) for s, step in steps], STEP_COLUMNS, tablefmt=args.format, floatfmt=".3g"))
    return 0


RUN_COLUMNS = ["run", "date", "commit", "name", "env", "machine", "ok", "failed", "skipped", "file"]
ENV_COLUMNS = ["MXNet", "OMP_NUM_THREADS", "MXNET_ENGINE_TYPE", "CPU", "node"]
STEP_COLUMNS = ["case", "env", "at run", "before (ms)", "after (ms)", "after/before", "p", "verdict"]


def run_rows(runs: list[history.Run]) -> list[dict]:
    return [{
        "run": r.number or "-",
        "date": r.datetime[:19].replace("T", " "),
        "commit": r.short_commit,
        "name": r.name or "",
        "env": r.env_id,
        "machine": r.machine_id,
        "ok": len(r.benchmarks),
        "failed": sum(e.get("status") == "failed" for e in r.not_run),
        "skipped": sum(e.get("status") == "skipped" for e in r.not_run),
        "file": r.path.name,
    } for r in runs]


def _env_columns(env: dict) -> dict:
    return {"MXNet": env.get("mxnet"), "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS") or "unset",
            "MXNET_ENGINE_TYPE": env.get("MXNET_ENGINE_TYPE") or "unset", "CPU": f"{env.get('cpu')} ×{env.get('cpus')}",
            "node": env.get("node")}


def _verdict(step) -> str:
    if step.significant:
        return f"{step.kind} (confirmed)"
    if step.p_value is None:
        return f"{step.kind}? (no rounds to test)"
    if step.min_p is not None and step.min_p >= ALPHA:
        return f"{step.kind}? (too few rounds: best possible p = {step.min_p:.2g})"
    return f"{step.kind}? (not significant)"


def _step_row(runs, s, step) -> dict:
    return {"case": s.case, "env": s.env_id, "at run": runs[step.index].label, "before (ms)": step.before * 1e3,
            "after (ms)": step.after * 1e3, "after/before": step.ratio,
            "p": step.p_value if step.p_value is not None else "", "verdict": _verdict(step)}


def _trend(runs, s: history.Series, tablefmt: str) -> None:
    env = runs[s.points[0].run].env
    print(f"{s.case}  (env {s.env_id}: " + ", ".join(f"{k} {v}" for k, v in _env_columns(env).items()) + ")")
    first = next((p.median for p in s.ok), None)
    level = {}
    for seg in s.detection.segments:
        for i in range(seg.start, seg.stop):
            level[i] = seg.level
    steps = {step.index: step for step in s.detection.steps}
    rows = []
    for p in s.points:
        run = runs[p.run]
        row = {"run": run.number or "-", "date": run.datetime[:19].replace("T", " "), "commit": run.short_commit,
               "name": run.name or ""}
        if p.status == "ok":
            iqr = (p.q3 - p.q1) * 1e3 if p.q1 is not None and p.q3 is not None else ""
            row.update({"median (ms)": p.median * 1e3, "IQR (ms)": iqr, "rounds": len(p.data) if p.data else "",
                        "vs first": p.median / first if first else "", "fit (ms)": level.get(p.run, 0) * 1e3})
        else:
            row["median (ms)"] = f"{p.status.upper()}: {p.error}"[:60]
        if p.run in steps:
            step = steps[p.run]
            p_text = f", p = {step.p_value:.2g}" if step.p_value is not None else ""
            row["change"] = f"◆ ×{step.ratio:.3g} " + _verdict(step) + p_text
        rows.append(row)
    columns = ["run", "date", "commit", "name", "median (ms)", "IQR (ms)", "rounds", "vs first", "fit (ms)", "change"]
    print(table(rows, columns, tablefmt=tablefmt, floatfmt=".4g") + "\n")


def cmd_report(args) -> int:
    found = api.report(args.runs, output=args.output, storage=args.storage, threshold=args.threshold,
                       alpha=args.alpha, verify=args.verify, title=args.title)
    print(f"wrote {args.output}: {len(found.runs)} runs, {len(found.series)} cases; {found.headline}")
    return 0
