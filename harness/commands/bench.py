"""``harness bench`` and ``harness compare``."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate_formats

from .. import bench, breakdown, compare, context, environment
from ..errors import HarnessError
from ..report import table, write_atomic
from ..roles import ROLES
from . import add_role_options, registry_from_args

PROCESSES = 0  # default of bench --processes (see docs/statistics.md for the measurements behind it)


def add_parser(sub, common) -> None:
    p = sub.add_parser(
        "bench", parents=[common], help="time every combination and print a table sorted by speed",
        description="Time combinations × contexts on a workload. Roles not named take the seed's scratch and gluon "
        "implementations (16 combinations); --all takes every registered one, third-party plugins included.",
    )
    add_role_options(p, multiple=True)
    p.add_argument("--all", action="store_true",
                   help="every registered implementation, not only the seed's scratch and gluon, for roles not given")
    p.add_argument("--fused", action="store_true",
                   help="also time the fused variant (one fused step for model, loss and optimizer) of every "
                   "selected combination that has one")
    p.add_argument("--ctx", default="cpu", help="comma-separated contexts, e.g. cpu,gpu (default %(default)s); "
                   "an unusable GPU is a skipped row")
    bench.add_workload_options(p.add_argument)
    p.add_argument("--json", metavar="PATH", help="write pytest-benchmark-compatible JSON")
    p.add_argument("--csv", metavar="PATH", help="write one CSV line per combination")
    p.add_argument("--plot", metavar="PATH", help="write a PNG: throughput and loss curves")
    p.add_argument("--format", default="simple", metavar="TABLEFMT", help="any tabulate format (default %(default)s)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--interleave", action="store_true",
                   help="time round r of every row before round r+1 (round robin), so drifting machine load hits "
                   "all rows alike; every row's setup stays in memory to the end")
    p.add_argument("--processes", type=int, default=PROCESSES, metavar="K",
                   help="spread each row's rounds over K fresh worker processes, run slot by slot across rows "
                   "(0: all in this process; default %(default)s)")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S",
                   help="with --processes: seconds a worker may take before it is killed (default %(default)g)")
    p.add_argument("--no-references", action="store_true",
                   help="leave out the NumPy (speed of light) and PyTorch eager reference rows")
    p.add_argument("--breakdown", nargs="?", const="", metavar="PNG",
                   help="also time each phase of a step (data, forward + loss, backward, update) per combination; "
                   "with PNG, write a stacked-bar chart there")
    p.add_argument("--overhead", action="store_true",
                   help="instead: time the seed's hand-written scratch loop against the harness's all-scratch run")
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
    load = bench.workload_from(lambda dest: getattr(args, dest))
    ctxs = bench.parse_ctxs(args.ctx)
    registry = registry_from_args(args)
    if args.overhead:
        return _overhead(registry, load, ctxs)
    for path in (args.json, args.csv, args.plot, args.breakdown):
        _check_writable(path)
    combos = bench.select(registry, {role: getattr(args, role) for role in ROLES}, args.all, args.fused)
    planned = bench.cases(combos, ctxs, load)
    if not args.no_references:
        planned += bench.reference_cases(ctxs, load)

    from tqdm import tqdm

    progress = tqdm(total=len(planned), file=sys.stderr, unit="combo", leave=False,
                    disable=args.quiet or not sys.stderr.isatty())
    done: list[bench.Row] = []

    def on_row(row):
        done.append(row)
        progress.set_postfix_str(f"done {row.case.label}", refresh=False)
        progress.update()

    start = time.perf_counter()
    interrupted = False
    try:
        if args.processes:
            _run_processes(args, planned, on_row)
        else:
            (bench.run_interleaved if args.interleave else bench.run_matrix)(registry, planned, on_row=on_row)
    except KeyboardInterrupt:
        interrupted = True
        _drain()
    finally:
        progress.close()
    wall = time.perf_counter() - start
    broken_down = []
    if args.breakdown is not None and not interrupted:
        try:
            broken_down = bench.run_breakdown(registry, done)
        except KeyboardInterrupt:
            interrupted = True
            _drain()
    machine, commit = environment.machine_info(), environment.commit_info()
    _write_outputs(args, done, broken_down, interrupted, machine, commit)
    print(bench.render_table(done, args.format))
    failed = sum(r.status == "failed" for r in done)
    skipped = sum(r.status == "skipped" for r in done)
    print(
        f"\n{_counted(done, planned)}; {failed} failed, {skipped} skipped; workload {load.name} "
        f"(N={load.num_examples}, D={load.num_inputs}, batch {load.batch_size}), {load.rounds} rounds after "
        f"{load.warmup} warm-up{_where(args)}; 'vs scratch' = epoch time / all-scratch's; {wall:.1f} s"
    )
    print(environment.summary(machine, commit))
    if broken_down:
        print("\nPer-phase breakdown (µs per step, median of the rounds):")
        print(bench.breakdown_table(broken_down, args.format))
        print(breakdown.NOTE)
    others = bench.left_out(registry, combos)
    if others:
        print(f"not in this matrix: {', '.join(others)} (name them with --data/--model/--loss/--optimizer, or --all)")
    if interrupted:
        print(f"harness: interrupted; kept the {len(done)} finished combinations", file=sys.stderr)
        return 130
    return 1 if failed else 0


def _run_processes(args, planned, on_row) -> None:
    from .. import runner

    if args.interleave:
        raise HarnessError("--interleave is the in-process round robin; --processes already runs rows slot by slot")
    if args.timeout <= 0:
        raise HarnessError(f"--timeout must be > 0 seconds, got {args.timeout:g}")
    for case, skip in planned:
        if not skip:
            runner.split_rounds(case.workload.rounds, args.processes)
    runner.run(planned, args.processes, [runner.Environment()], args.plugin_specs, args.strict_plugins,
               args.timeout, on_row=lambda side, row: on_row(row))


def _where(args) -> str:
    if not args.processes:
        return " in this process"
    return f" per row, spread over {args.processes} fresh processes (each with its own warm-up)"


def _counted(done, planned) -> str:
    refs = sum(bool(case.reference) for case, _ in planned)
    text = f"{len(done)} of {len(planned)} rows ({len(planned) - refs} combinations"
    return text + (f" + {refs} references)" if refs else ")")


def _drain() -> None:
    """Let the engine finish what the interrupted case queued, so the process exits cleanly."""
    import mxnet as mx

    try:
        mx.nd.waitall()
    except KeyboardInterrupt:
        pass


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


def _write_outputs(args, rows, broken_down, interrupted: bool, machine: dict, commit: dict) -> None:
    from ..plot import render_png

    outputs = [(args.json, lambda: bench.to_json_text(rows, interrupted, machine, commit) + "\n"),
               (args.csv, lambda: bench.to_csv(rows, machine, commit)),
               (args.plot, lambda: render_png(rows)),
               (broken_down and args.breakdown, lambda: bench.breakdown_png(broken_down))]
    for path, render in outputs:
        if path:
            try:
                write_atomic(path, render())
            except OSError as exc:
                raise HarnessError(f"cannot write {path}: {exc.strerror or exc}")


def _overhead(registry, load, ctxs) -> int:
    from ..overhead import describe, measure_overhead

    if ctxs != ["cpu"]:
        raise HarnessError(f"--overhead runs on cpu only (the seed's loop creates its indices there); got --ctx {','.join(ctxs)}")
    # the seed's loop is all-scratch by definition: role choices would not apply
    result = measure_overhead(registry, load.task, load.settings, context.resolve("cpu"), load.rounds, load.warmup)
    print(describe(result) + f"; workload {load.name}, {load.warmup} warm-up")
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
    regressions = [c for c in results if c.verdict == "failed"
                   or (c.p_holm is not None and c.p_holm < args.alpha and c.ratio > 1 + fail_at)]
    for c in regressions:
        detail = "now fails" if c.verdict == "failed" else f"{c.ratio:.2f}× slower (p = {c.p_value:.2g}, Holm p = {c.p_holm:.2g})"
        print(f"regression: {c.name} {detail}", file=sys.stderr)
    return 1 if regressions else 0
