"""``harness sweep``: epoch and step time over grids of N, D and batch size."""
from __future__ import annotations

import sys

from harness.core import context
from harness.core.errors import HarnessError
from harness.tasks import DEFAULT_TASK
from harness.output.render import table, to_json, write_atomic
from harness.core.roles import ROLES, Combination, role_columns
from harness.measure.sweep import points, measure_point, summarize
from harness.output.sweep import render_png
from harness.cli.args import add_role_options, add_task_choice, registry_from_args


def _ints(flag: str):
    def parse(text: str) -> list[int]:
        try:
            values = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            values = []
        if not values or min(values) <= 0:
            raise HarnessError(f"{flag} takes a comma-separated list of positive integers, got {text!r}")
        return sorted(set(values))

    return parse


def add_parser(sub, common) -> None:
    p = sub.add_parser("sweep", parents=[common], help="how epoch and step time scale with N, D and batch size")
    add_role_options(p, multiple=True)
    add_task_choice(p)
    p.add_argument("--num-examples", help=f"N values (default {DEFAULT_TASK} 1000,4000,16000; synthetic images "
                   "1000,4000,16000; other data sets: their size)")
    p.add_argument("--num-inputs", help=f"D values ({DEFAULT_TASK}; default 2)")
    p.add_argument("--batch-size", default="10,100,1000", help="batch sizes (default %(default)s)")
    p.add_argument("--ctx", default="cpu", help="cpu, gpu or gpu:N (default %(default)s)")
    p.add_argument("--rounds", type=int, default=3, help="timed epochs per point (default %(default)s)")
    p.add_argument("--warmup", type=int, default=1, help="untimed epochs first (default %(default)s)")
    p.add_argument("--lr", type=float, help="learning rate (default: the task's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", default="simple", help="tabulate table format (default %(default)s)")
    p.add_argument("--json", metavar="PATH", help="write every point and fit as JSON")
    p.add_argument("--plot", metavar="PATH", help="write a log-log PNG")
    p.set_defaults(func=cmd_sweep)


def _combos(registry, args) -> list[Combination]:
    # default: each plugin that provides every role, on its own
    return registry.choose(args.task, {role: getattr(args, role) for role in ROLES}, scope="own")


def cmd_sweep(args) -> int:
    sized = args.task == DEFAULT_TASK or args.dataset == "synthetic"
    ns = _ints("--num-examples")(args.num_examples or "1000,4000,16000") if sized or args.num_examples else [None]
    ds = _ints("--num-inputs")(args.num_inputs or "2") if args.task == DEFAULT_TASK or args.num_inputs else [None]
    bs = _ints("--batch-size")(args.batch_size)
    if args.rounds <= 0 or args.warmup < 0:
        raise HarnessError(f"--rounds must be >= 1 and --warmup >= 0, got {args.rounds} and {args.warmup}")
    if args.lr is not None and not args.lr > 0:
        raise HarnessError(f"--lr must be a positive number, got {args.lr}")
    registry = registry_from_args(args)
    ctx = context.resolve(args.ctx)
    grid = points(_combos(registry, args), ns, ds, bs)
    rows = []
    try:
        for i, point in enumerate(grid, 1):
            print(f"[{i}/{len(grid)}] {point.combo.label} N={point.num_examples} D={point.num_inputs} B={point.batch_size}", file=sys.stderr, flush=True)
            rows.append(measure_point(registry, point, ctx, args.rounds, args.warmup, args.lr, args.seed, args.task,
                                      dataset=args.dataset, data_dir=args.data_dir))
    except KeyboardInterrupt:
        print(f"harness: interrupted; reporting the {len(rows)} points finished", file=sys.stderr)
        _report(args, rows)
        return 130
    return _report(args, rows)


def _report(args, rows) -> int:
    shown = [
        {**role_columns(r["combo"]), "N": r["N"], "D": r["D"], "B": r["B"], "epoch s": r.get("epoch_s"), "µs/step": r.get("step_us"), "µs/sample": r.get("sample_us"), "error": r["error"]}
        for r in rows
    ]
    print(table(shown, [*ROLES, "N", "D", "B", "epoch s", "µs/step", "µs/sample", "error"], tablefmt=args.format, floatfmt=".4g"))
    fits = summarize(rows)
    if fits:
        print()
        fit_rows = [
            {
                "combination": f["combo"].label,
                "fit": f["fit"],
                "at": f"D={f['D']} B={f['B']}" if f["B"] is not None else f"N={f['N']} D={f['D']}",
                "slope": f["slope"],
                "R²": f["r2"],
                "per-sample cost stops falling at B": f["knee_B"],
            }
            for f in fits
        ]
        print(table(fit_rows, ["combination", "fit", "at", "slope", "R²", "per-sample cost stops falling at B"], tablefmt=args.format, floatfmt=".3f"))
    if args.json:
        doc = {
            "points": [{**r, "combo": r["combo"].as_dict()} for r in rows],
            "fits": [{**f, "combo": f["combo"].as_dict()} for f in fits],
        }
        write_atomic(args.json, to_json(doc))
    if args.plot and any(not r["error"] for r in rows):
        write_atomic(args.plot, render_png(rows))
    return 1 if any(r["error"] for r in rows) else 0
