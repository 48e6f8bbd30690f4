"""``harness ab``: the same cases in two environments, alternated, with a corrected verdict per case."""
from __future__ import annotations

import sys

from harness import api, options
from harness.analysis import ab
from harness.cli.args import add_role_options
from harness.core.files import to_json
from harness.core.roles import ROLES
from harness.measure import environment, runner, threads, workloads

PROCESSES = api.AB_PROCESSES
ROUNDS_PER_PROCESS = api.AB_ROUNDS_PER_PROCESS


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
    sides = {"a_env": runner.parse_env(args.a_env, "--a-env"), "b_env": runner.parse_env(args.b_env, "--b-env")}
    options.check_outputs({"--json": args.json})
    result = api.ab(args.task, args.workload, a_python=args.a_python, b_python=args.b_python, **sides,
                    **{role: getattr(args, role) for role in ROLES}, all=args.all, fused=args.fused, ctx=args.ctx,
                    **{name: getattr(args, name) for name in workloads.OVERRIDES}, processes=args.processes,
                    clock=args.clock, alpha=args.alpha, threshold=args.threshold,
                    fail_on_regression=args.fail_on_regression, timeout=args.timeout,
                    references=not args.no_references, plugins=args.plugin_specs, strict=args.strict_plugins,
                    progress=not args.quiet, threads=args.threads)
    if args.json:
        options.write_output(args.json, to_json(result.to_dict()) + "\n", "--json")
    print(result.table(args.format))
    print("\n" + result.summary())
    for s in result.sides:
        print(f"{s.name}: {s.describe()}")
    print(environment.summary(result.machine, result.commit))
    if environment.threads_warning(result.machine):
        print(environment.threads_warning(result.machine), file=sys.stderr)
    busy = result.busy()
    if busy:
        print(busy, file=sys.stderr)
    if result.interrupted:
        print(f"harness: interrupted; kept the {len(result.pairs)} cases both sides finished", file=sys.stderr)
        return 130
    status = 1 if result.failed else 0
    if result.fail_at is not None:
        for p in result.regressions:
            detail = "fails only in B" if p.verdict == "failed in B" else (
                f"{p.change.ratio.estimate:.3f}× slower in B (95% CI {_ci(p)}, Holm p = {p.change.p_holm:.2g})")
            print(f"regression: {p.case.name} {detail}", file=sys.stderr)
        status = 1 if result.regressions else status
    return status


def _ci(p) -> str:
    return f"{p.change.ratio.ci.low:.3f}–{p.change.ratio.ci.high:.3f}"
