"""``harness ab``: the same cases in two environments, alternated, with a corrected verdict per case."""
from __future__ import annotations

import os
import sys
import time

from harness.analysis import ab
from harness.measure import environment
from harness.measure import threads
from harness.measure import measuring
from harness.measure import runner
from harness.analysis import stats
from harness.measure import workloads
from harness.analysis.compare import parse_percent
from harness.core.errors import HarnessError
from harness.output.render import to_json, write_atomic
from harness.core.roles import ROLES
from harness.cli.args import add_role_options, registry_from_args
from harness.api import plan_bench
from harness.cli.bench import _check_format, _check_writable

PROCESSES = 24  # pairs of processes per case: the test's sample size; docs/statistics.md has the measurements
ROUNDS_PER_PROCESS = 2  # more buys little: most of the noise of a short row is between processes


def add_parser(sub, common) -> None:
    p = sub.add_parser(
        "ab", parents=[common], help="run the same cases in two environments (interpreters or env vars), A B B A",
        description="Time the bench matrix in two environments — two Python interpreters (e.g. two virtualenvs, each "
        "with mxnet-harness installed) and/or two sets of environment variables — in fresh worker processes "
        "alternated A B B A, and give per case the ratio B/A with a 95% confidence interval and a verdict: "
        "slower, faster or same, Holm-corrected across the matrix.",
    )
    for side in ("a", "b"):
        p.add_argument(f"--{side}-python", default=sys.executable, metavar="PATH",
                       help=f"interpreter of side {side.upper()} (default: this one)")
        p.add_argument(f"--{side}-env", action="append", metavar="NAME=VALUE",
                       help=f"environment variable set for side {side.upper()} (repeatable)")
    add_role_options(p, multiple=True)
    p.add_argument("--all", action="store_true", help="every registered implementation for roles not given")
    p.add_argument("--fused", action="store_true", help="also the fused variant of every combination that has one")
    p.add_argument("--ctx", default="cpu", help="comma-separated contexts (default %(default)s)")
    def add(*names, **options):
        if names[0] == "--rounds":  # ab spreads them over its pairs
            options["help"] = (f"timed epochs per side in all, spread over the processes "
                               f"(default {ROUNDS_PER_PROCESS} per process)")
        return p.add_argument(*names, **options)

    workloads.add_workload_options(add)
    p.add_argument("--processes", type=int, default=PROCESSES, metavar="K",
                   help="worker processes per side, each measuring every case in turn beside its partner of the "
                   "other side; the verdict tests the K pairs (default %(default)s)")
    p.add_argument("--clock", choices=ab.CLOCKS, default="wall",
                   help="wall: the synchronised epoch time (default); cpu: the worker's CPU time over the same "
                   "window, all threads, which a busy shared machine disturbs less")
    p.add_argument("--alpha", type=float, default=ab.ALPHA,
                   help="family-wise significance level across the matrix, Holm-corrected (default %(default)s)")
    p.add_argument("--threshold", default=f"{ab.THRESHOLD:.0%}",
                   help="smallest change called slower or faster (default %(default)s)")
    p.add_argument("--fail-on-regression", nargs="?", const="0%", metavar="PCT",
                   help="exit 1 when a case is significantly slower in B by more than PCT (default 0%%, i.e. any "
                   "'slower' verdict) or fails only in B")
    p.add_argument("--timeout", type=float, default=runner.TIMEOUT, metavar="S",
                   help="seconds a worker may take before it is killed (default %(default)g)")
    p.add_argument("--no-references", action="store_true", help="leave out the NumPy and PyTorch reference rows")
    p.add_argument("--threads", type=threads.argument, metavar="N|auto|mxnet",
                   help=threads.HELP + f"; both sides, unless --a-env/--b-env sets {threads.VAR}")
    p.add_argument("--json", metavar="PATH", help="write the verdicts, intervals and raw rounds of both sides")
    p.add_argument("--format", default="simple", metavar="TABLEFMT", help="any tabulate format (default %(default)s)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_ab)


def cmd_ab(args) -> int:
    _check_format(args.format)
    if not 0 < args.alpha < 1:
        raise HarnessError(f"--alpha must be between 0 and 1, got {args.alpha}")
    if args.timeout <= 0:
        raise HarnessError(f"--timeout must be > 0 seconds, got {args.timeout:g}")
    threshold = parse_percent(args.threshold)
    fail_at = parse_percent(args.fail_on_regression) if args.fail_on_regression is not None else None
    sides = [runner.Environment("A", args.a_python, runner.parse_env(args.a_env, "--a-env")),
             runner.Environment("B", args.b_python, runner.parse_env(args.b_env, "--b-env"))]
    setting = threads.chosen(args.threads)
    if setting is not None:  # the workers start with it; a side's own --x-env wins
        for side in sides:
            side.env.setdefault(threads.VAR, threads.target(setting))
    if args.rounds is None:
        args.rounds = ROUNDS_PER_PROCESS * args.processes
    registry = registry_from_args(args)
    load = workloads.workload_from(lambda dest: getattr(args, dest), registry=registry)
    _check_writable(args.json)
    _, _, planned = plan_bench(registry, load, ctx=args.ctx, **{role: getattr(args, role) for role in ROLES},
                               all=args.all, fused=args.fused, references=not args.no_references)
    runner.split_rounds(load.rounds, args.processes)
    tested = sum(not skip for _, skip in planned)
    why = stats.attainable_pairs(args.processes, args.alpha, tested)
    if why:
        raise HarnessError(f"{why} (--processes), or fewer rows, or a larger --alpha")
    for side in sides:
        side.check()

    from tqdm import tqdm

    jobs = args.processes * tested
    progress = tqdm(total=jobs, file=sys.stderr, unit="case", leave=False, disable=args.quiet or not sys.stderr.isatty())
    done: list[dict[int, measuring.Row]] = [{}, {}]
    index = {id(case): i for i, (case, _) in enumerate(planned)}

    def on_row(side, row):
        done[side][index[id(row.case)]] = row

    start, loadavg_before = time.perf_counter(), os.getloadavg()[0]
    interrupted = False
    try:
        runner.run(planned, args.processes, sides, args.plugin_specs, args.strict_plugins, args.timeout,
                   on_row=on_row, on_job=progress.update, per_case=False)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.close()
    wall, loadavg = time.perf_counter() - start, [loadavg_before, os.getloadavg()[0]]
    both = sorted(set(done[0]) & set(done[1]))
    pairs = ab.pair_up([done[0][i] for i in both], [done[1][i] for i in both], args.alpha, threshold,
                       clock=args.clock)
    machine = environment.machine_info(environment.threads_info(setting, workers=sides[0].environ()))
    commit = environment.commit_info()
    if args.json:
        settings = {"clock": args.clock, "alpha": args.alpha, "correction": "holm", "threshold": threshold, "confidence": stats.CONFIDENCE,
                    "processes": args.processes, "rounds": load.rounds, "load_average": loadavg, "warmup": load.warmup,
                    "test": "sign test over process pairs", "workload": load.as_dict(), "wall_s": wall,
                    "order": "slot by slot, each worker measuring every case; per case A B B A, B first in odd slots"}
        described = {s.name: {"python": s.python, "env": s.env} for s in sides}
        write_atomic(args.json, to_json(ab.to_document(pairs, settings, described, machine, commit, interrupted)) + "\n")
    print(ab.render_table(pairs, args.format))
    found = ab.counts(pairs)
    print(f"\n{_counted([p.a for p in pairs], planned)}: " + ", ".join(f"{n} {v}" for v, n in found.items())
          + f"; A, B = median over the processes of each one's fastest epoch ({args.clock} clock), with its 95% CI; "
          f"B/A = median of the {args.processes} process pairs' ratios with its distribution-free 95% CI; verdicts: sign test over the pairs, Holm-corrected "
          f"over {sum(p.change is not None for p in pairs)} rows at family-wise alpha {args.alpha:g}, change beyond "
          f"{threshold:.0%}; {load.rounds} rounds per side in {args.processes} processes; {wall:.1f} s")
    for s in sides:
        print(f"{s.name}: {s.describe()}")
    print(environment.summary(machine, commit))
    if environment.threads_warning(machine):
        print(environment.threads_warning(machine), file=sys.stderr)
    busy = _busy(loadavg, args.clock)
    if busy:
        print(busy, file=sys.stderr)
    if interrupted:
        print(f"harness: interrupted; kept the {len(pairs)} cases both sides finished", file=sys.stderr)
        return 130
    status = 1 if any(p.verdict.startswith("failed") for p in pairs) else 0
    if fail_at is not None:
        regressions = [p for p in pairs if p.regression(fail_at)]
        for p in regressions:
            detail = "fails only in B" if p.verdict == "failed in B" else (
                f"{p.change.ratio.estimate:.3f}× slower in B (95% CI {_ci(p)}, Holm p = {p.change.p_holm:.2g})")
            print(f"regression: {p.case.name} {detail}", file=sys.stderr)
        status = 1 if regressions else status
    return status


def _busy(load: list[float], clock: str) -> str:
    """A warning when other jobs kept the machine's cores busy: the wall clock then loses most of its power
    (docs/statistics.md measures how much); empty otherwise."""
    cores = os.cpu_count() or 1
    if max(load) <= cores or clock == "cpu":
        return ""
    return (f"harness: note: the machine was busy (load average {load[0]:.1f} -> {load[1]:.1f} on {cores} cores, this "
            "run included); wall-clock verdicts lose power under load: read the intervals, repeat on a quieter "
            "machine, or judge CPU time (--clock cpu)")


def _ci(p: ab.Pair) -> str:
    return f"{p.change.ratio.ci.low:.3f}–{p.change.ratio.ci.high:.3f}"


def _counted(done, planned) -> str:
    refs = sum(bool(case.reference) for case, _ in planned)
    text = f"{len(done)} of {len(planned)} rows ({len(planned) - refs} combinations"
    return text + (f" + {refs} references)" if refs else ")")
