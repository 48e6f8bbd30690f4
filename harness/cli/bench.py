"""``harness bench`` and ``harness compare``."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tabulate import tabulate_formats

from harness import api
from harness.output import breakdown
from harness.analysis import compare
from harness.core import context
from harness.measure import environment
from harness.measure import threads
from harness.analysis import history
from harness.measure import planning
from harness.measure import workloads
from harness.core.errors import HarnessError
from harness.tasks import DEFAULT_TASK
from harness.output.render import table
from harness.core.roles import ROLES
from harness.cli.args import add_algorithm_option, add_role_options, registry_from_args
from harness.cli import distributed

PROCESSES = 0  # default of bench --processes (see docs/statistics.md for the measurements behind it)


def add_parser(sub, common) -> None:
    p = sub.add_parser(
        "bench", parents=[common], help="time every combination and print a table sorted by speed",
        description="Time combinations × contexts on a workload. Roles not named take the seed's scratch and gluon "
        "implementations (16 combinations); --all takes every registered one, third-party plugins included.",
    )
    add_role_options(p, multiple=True)
    add_algorithm_option(p, multiple=True)
    p.add_argument("--all", action="store_true",
                   help="every registered implementation, not only the seed's scratch and gluon, for roles not given")
    p.add_argument("--fused", action="store_true",
                   help="also time the fused variant (one fused step for model, loss and optimizer) of every "
                   "selected combination that has one")
    p.add_argument("--ctx", default="cpu", help="comma-separated contexts, e.g. cpu,gpu (default %(default)s); "
                   "an unusable GPU is a skipped row")
    workloads.add_workload_options(p.add_argument)
    p.add_argument("--json", metavar="PATH", help="write pytest-benchmark-compatible JSON")
    p.add_argument("--csv", metavar="PATH", help="write one CSV line per combination")
    p.add_argument("--save", nargs="?", const="", metavar="NAME",
                   help="save the run in the history (--storage), as NNNN_<commit>_<date>_<env>[_NAME].json")
    p.add_argument("--autosave", action="store_true", help="save the run in the history under its commit and date")
    p.add_argument("--storage", default=history.DEFAULT_STORAGE, metavar="DIR",
                   help="the run history, pytest-benchmark's layout (default %(default)s)")
    p.add_argument("--plot", metavar="PATH", help="write a PNG: throughput and loss curves")
    p.add_argument("--format", default="simple", metavar="TABLEFMT", help="any tabulate format (default %(default)s)")
    p.add_argument("--columns", metavar="A,B,C",
                   help="the table's columns, by key (an unknown key lists the valid ones); default: combination, "
                   "ctx, median with CI, µs/step, ratios, status")
    p.add_argument("--wide", action="store_true", help="show every column (roles apart, IQR, min, rounds, "
                   "samples/s, time to target, final loss, memory, why a row is unstable)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--interleave", action="store_true",
                   help="time round r of every row before round r+1 (round robin), so drifting machine load hits "
                   "all rows alike; every row's setup stays in memory to the end")
    p.add_argument("--processes", type=int, default=PROCESSES, metavar="K",
                   help="spread each row's rounds over K fresh worker processes, run slot by slot across rows "
                   "(0: all in this process; default %(default)s)")
    p.add_argument("--worker-timeout", type=float, default=600.0, metavar="S",
                   help="with --processes: seconds a worker may take before it is killed (default %(default)g)")
    p.add_argument("--no-references", action="store_true",
                   help="leave out the NumPy (speed of light) and PyTorch eager reference rows")
    p.add_argument("--threads", type=threads.argument, metavar="N|auto|mxnet", help=threads.HELP)
    p.add_argument("--breakdown", nargs="?", const="", metavar="PNG",
                   help="also time each phase of a step (data, forward + loss, backward, update) per combination; "
                   "with PNG, write a stacked-bar chart there")
    p.add_argument("--overhead", action="store_true",
                   help="instead: time the seed's hand-written scratch loop against the harness's all-scratch run")
    distributed.add_options(p, bench=True)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("compare", parents=[common], help="compare two bench JSON files, with a significance test")
    p.add_argument("old", metavar="OLD.json")
    p.add_argument("new", metavar="NEW.json")
    p.add_argument("--threshold", default="10%", help="smallest change that counts (default %(default)s)")
    p.add_argument("--alpha", type=float, default=compare.ALPHA, help="family-wise significance level: Mann–Whitney U, Holm-corrected across the benchmarks (default %(default)s)")
    p.add_argument("--fail-on-regression", metavar="PCT",
                   help="exit 1 on a significant slowdown beyond PCT (e.g. 5%%) or a newly failed combination")
    p.add_argument("--format", default="simple", metavar="TABLEFMT", help="any tabulate format (default %(default)s)")
    p.set_defaults(func=cmd_compare)


def _check_format(fmt: str) -> None:
    if fmt not in tabulate_formats:
        raise HarnessError(f"unknown --format {fmt!r}; valid: {', '.join(sorted(tabulate_formats))}")


def cmd_bench(args) -> int:
    _check_format(args.format)
    registry = registry_from_args(args)
    load = workloads.workload_from(lambda dest: getattr(args, dest), registry=registry)
    if args.workers is not None:
        return distributed.cmd_bench(args, registry, load)
    if args.overhead:
        return _overhead(registry, load, planning.parse_ctxs(args.ctx))
    if args.columns:  # an unknown column fails before any work (the ratio columns exist once references ran)
        from harness.output import bench_table

        bench_table.check_columns(args.columns)
    for path in (args.json, args.csv, args.plot, args.breakdown):
        _check_writable(path)
    save = args.save is not None or args.autosave
    if args.save:
        history.check_name(args.save)
    if save:
        _check_writable(str(Path(args.storage) / history.machine_id() / "run.json"))
    result = api.bench(load.task, load.name, **{role: getattr(args, role) for role in ROLES},
                       algorithm=args.algorithm, all=args.all,
                       fused=args.fused, ctx=args.ctx, references=not args.no_references, interleave=args.interleave,
                       processes=args.processes, worker_timeout=args.worker_timeout,
                       breakdown=args.breakdown is not None, progress=not args.quiet, registry=registry,
                       plugins=args.plugin_specs, strict=args.strict_plugins, threads=threads.chosen(args.threads),
                       **{name: getattr(args, name) for name in workloads.OVERRIDES})
    result.write(json=args.json, csv=args.csv, plot=args.plot, breakdown_png=args.breakdown or None)
    saved = result.save(args.storage, args.save or None) if save and result.rows_ else None
    print(result.table(args.format, columns=args.columns, wide=args.wide))
    print("\n" + result.summary())
    print(environment.summary(result.machine, result.commit))
    if environment.threads_warning(result.machine):
        print(environment.threads_warning(result.machine), file=sys.stderr)
    effects = result.effects(only_factorial=True)
    if effects.analyses:  # the matrix is factorial enough: what each role choice costs
        print("\n" + effects.text())
    if saved:
        print(f"saved as {saved} (harness history --storage {args.storage}; pytest-benchmark --storage {args.storage} list)")
    if result.broken_down:
        print("\nPer-phase breakdown (µs per step, median of the rounds):")
        print(breakdown.breakdown_table(result.broken_down, args.format))
        print(breakdown.NOTE)
    others = result.left_out()
    if others:
        print(f"not in this matrix: {', '.join(others)} (name them with --data/--model/--loss/--optimizer, or --all)")
    if result.interrupted:
        print(f"harness: interrupted; kept the {len(result.rows_)} finished combinations", file=sys.stderr)
        return 130
    return 1 if result.failed else 0


def _check_writable(path: str | None) -> None:
    """Fail before a long run, not after it, when an output cannot be written."""
    if not path:
        return
    target = Path(path)
    if target.is_dir():
        raise HarnessError(f"cannot write {path}: it is a directory")
    try:  # the real test: a file can be created where the output will go
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=target.parent):
            pass
    except OSError as exc:
        raise HarnessError(f"cannot write {path}: {exc.strerror or exc}") from None


def _overhead(registry, load, ctxs) -> int:
    from harness.measure.overhead import describe, describe_counts, measure_overhead

    if ctxs != ["cpu"]:
        raise HarnessError(f"--overhead runs on cpu only (the seed's loop creates its indices there); got --ctx {','.join(ctxs)}")
    # the seed's loop is all-scratch by definition: role choices would not apply
    if load.task != DEFAULT_TASK:
        raise HarnessError(f"--overhead compares the seed's linear-regression loop; it needs --task {DEFAULT_TASK}, got {load.task}")
    task = load.build_task(registry)
    result = measure_overhead(registry, task, load.settings(task), context.resolve("cpu"), load.rounds, load.warmup)
    print(describe(result) + f"; workload {load.name}, {load.warmup} warm-up")
    print(describe_counts(result["per_step"]))
    return 0


def _ci_ms(ci) -> str:
    return f"{ci.low * 1e3:.4g}–{ci.high * 1e3:.4g}" + ("*" if ci.level < 0.95 - 1e-9 else "")


def cmd_compare(args) -> int:
    _check_format(args.format)
    threshold = compare.parse_percent(args.threshold)
    fail_at = compare.parse_percent(args.fail_on_regression) if args.fail_on_regression is not None else None
    if not 0 < args.alpha < 1:
        raise HarnessError(f"--alpha must be between 0 and 1, got {args.alpha}")
    old, new = compare.load(args.old), compare.load(args.new)
    results = compare.compare_runs(old, new, alpha=args.alpha, threshold=threshold)
    rows = [
        {
            "benchmark": c.name,
            "old median (ms)": c.old_median * 1e3 if c.old_median is not None else "",
            "old 95% CI": _ci_ms(c.medians_ci[0]) if c.medians_ci else "",
            "new median (ms)": c.new_median * 1e3 if c.new_median is not None else "",
            "new 95% CI": _ci_ms(c.medians_ci[1]) if c.medians_ci else "",
            "new/old": c.ratio if c.ratio is not None else "",
            "new/old 95% CI": f"{c.ratio_ci.low:.3f}–{c.ratio_ci.high:.3f}" + ("*" if c.ratio_ci.level < 0.95 - 1e-9 else "")
            if c.ratio_ci else "",
            "p (Mann–Whitney U)": c.p_value if c.p_value is not None else "",
            "p (Holm)": c.p_holm if c.p_holm is not None else "",
            "verdict": c.verdict,
        }
        for c in results
    ]
    print(table(rows, list(rows[0]) if rows else ["benchmark"], tablefmt=args.format, floatfmt=".4g"))
    counts = {v: sum(c.verdict == v for c in results) for v in ("slower", "faster", "same", "failed", "added", "removed")}
    tested = sum(c.p_value is not None for c in results)
    print("\n" + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
          + f"; significant at Holm-adjusted p < {args.alpha:g} over {tested} benchmarks with a change beyond "
          f"{threshold:.0%}; new/old = Hodges–Lehmann ratio with its exact 95% CI (* = too few rounds for 95%)")
    sizes = [(len(old[c.name]["data"]), len(new[c.name]["data"])) for c in results if c.p_value is not None]
    unreachable = [why for why in (compare.stats.attainable(n, m, args.alpha, tested) for n, m in sizes) if why]
    if unreachable:
        print(f"warning: no benchmark can be called changed: {unreachable[0]}; use more --rounds", file=sys.stderr)
    print("note: two separate runs drift apart on a shared machine; `harness ab` alternates both sides in one session",
          file=sys.stderr)
    if fail_at is None:
        return 0
    regressions = [c for c in results if c.regression(args.alpha, fail_at)]
    for c in regressions:
        detail = "now fails" if c.verdict == "failed" else f"{c.ratio:.2f}× slower (p = {c.p_value:.2g}, Holm p = {c.p_holm:.2g})"
        print(f"regression: {c.name} {detail}", file=sys.stderr)
    return 1 if regressions else 0
