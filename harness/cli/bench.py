"""``harness bench`` and ``harness compare``."""
from __future__ import annotations

import sys
from pathlib import Path

from harness import api, options
from harness.analysis import compare, history
from harness.cli import distributed
from harness.cli.args import add_algorithm_option, add_role_options, registry_from_args
from harness.core import context
from harness.core.errors import HarnessError
from harness.core.roles import ROLES
from harness.measure import environment, planning, threads, workloads
from harness.output import breakdown
from harness.tasks import DEFAULT_TASK

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
    p.add_argument("--processes", type=int, metavar="K",
                   help="spread each row's rounds over K fresh worker processes, run slot by slot across rows "
                   f"(0: all in this process; default {PROCESSES})")
    p.add_argument("--worker-timeout", type=float, metavar="S",
                   help="with --processes: seconds a worker may take before it is killed (default 600)")
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
    p.add_argument("--alpha", type=float, default=compare.ALPHA,
                   help="family-wise significance level: Mann–Whitney U, Holm-corrected across the benchmarks "
                   "(default %(default)s)")
    p.add_argument("--fail-on-regression", metavar="PCT",
                   help="exit 1 on a significant slowdown beyond PCT (e.g. 5%%) or a newly failed combination")
    p.add_argument("--format", default="simple", metavar="TABLEFMT", help="any tabulate format (default %(default)s)")
    p.set_defaults(func=cmd_compare)


DIST = ("workers", "repeat", "servers", "kvstore", "placement", "timeout", "deadline", "host", "port", "hosts")


def cmd_bench(args) -> int:
    save = args.save is not None or args.autosave
    if args.save:
        history.check_name(args.save)
    outputs = {"--json": args.json, "--csv": args.csv, "--plot": args.plot, "--breakdown": args.breakdown}
    options.check_outputs(outputs, storage=args.storage)
    if save:
        options.check_writable(str(Path(args.storage) / history.machine_id() / "run.json"), "--storage")
    registry = registry_from_args(args)
    if args.overhead:
        load = workloads.workload_from(lambda dest: getattr(args, dest), registry=registry)
        return _overhead(registry, load, planning.parse_ctxs(args.ctx))
    if args.columns:  # an unknown column fails before any work (the ratio columns exist once references ran)
        from harness.output import bench_table

        bench_table.check_columns(args.columns)
    result = api.bench(args.task, args.workload, **{role: getattr(args, role) for role in ROLES},
                       algorithm=args.algorithm, all=args.all,
                       fused=args.fused, ctx=args.ctx, references=not args.no_references, interleave=args.interleave,
                       processes=args.processes or 0, worker_timeout=args.worker_timeout,
                       breakdown=args.breakdown is not None, progress=not args.quiet, registry=registry,
                       plugins=args.plugin_specs, strict=args.strict_plugins, threads=threads.chosen(args.threads),
                       **{name: getattr(args, name) for name in workloads.OVERRIDES},
                       **{name: getattr(args, name) for name in DIST})
    if args.workers is not None:
        result.write(json=args.json, csv=args.csv)
        return distributed.print_scaling(result, args.format)
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
        print(f"saved as {saved} (harness history --storage {args.storage}; "
              f"pytest-benchmark --storage {args.storage} list)")
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


def _overhead(registry, load, ctxs) -> int:
    from harness.measure.overhead import describe, describe_counts, measure_overhead

    if ctxs != ["cpu"]:
        raise HarnessError(
            f"--overhead runs on cpu only (the seed's loop creates its indices there); got --ctx {','.join(ctxs)}"
        )
    # the seed's loop is all-scratch by definition: role choices would not apply
    if load.task != DEFAULT_TASK:
        raise HarnessError(
            f"--overhead compares the seed's linear-regression loop; it needs --task {DEFAULT_TASK}, got {load.task}"
        )
    task = load.build_task(registry)
    result = measure_overhead(registry, task, load.settings(task), context.resolve("cpu"), load.rounds, load.warmup)
    print(describe(result) + f"; workload {load.name}, {load.warmup} warm-up")
    print(describe_counts(result["per_step"]))
    return 0


def cmd_compare(args) -> int:
    result = api.compare(args.old, args.new, threshold=args.threshold, alpha=args.alpha,
                         fail_on_regression=args.fail_on_regression)
    print(result.table(args.format))
    print("\n" + result.summary())
    unreachable = result.unreachable()
    if unreachable:
        print(f"warning: no benchmark can be called changed: {unreachable}; use more --rounds", file=sys.stderr)
    print("note: two separate runs drift apart on a shared machine; `harness ab` alternates both sides in one session",
          file=sys.stderr)
    if result.fail_at is None:
        return 0
    for c in result.regressions:
        if c.verdict == "failed":
            detail = "now fails"
        else:
            detail = f"{c.ratio:.2f}× slower (p = {c.p_value:.2g}, Holm p = {c.p_holm:.2g})"
        print(f"regression: {c.name} {detail}", file=sys.stderr)
    return 1 if result.regressions else 0
