"""``harness sweep``: epoch and step time over grids of N, D and batch size."""
from __future__ import annotations

import sys

from harness import api, options
from harness.cli.args import add_role_options, add_task_choice
from harness.core.files import to_json
from harness.core.roles import ROLES
from harness.tasks import DEFAULT_TASK


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


def cmd_sweep(args) -> int:
    options.check_outputs({"--json": args.json, "--plot": args.plot})

    def announce(i, total, point):
        print(f"[{i}/{total}] {point.combo.label} N={point.num_examples} D={point.num_inputs} B={point.batch_size}",
              file=sys.stderr, flush=True)

    result = api.sweep(args.task, **{role: getattr(args, role) for role in ROLES}, num_examples=args.num_examples,
                       num_inputs=args.num_inputs, batch_size=args.batch_size, ctx=args.ctx, rounds=args.rounds,
                       warmup=args.warmup, lr=args.lr, seed=args.seed, dataset=args.dataset, data_dir=args.data_dir,
                       plugins=args.plugin_specs, strict=args.strict_plugins, on_point=announce)
    if result.interrupted:
        print(f"harness: interrupted; reporting the {len(result.points)} points finished", file=sys.stderr)
    print(result.table(args.format))
    if result.fits:
        print()
        print(result.fit_table(args.format))
    if args.json:
        options.write_output(args.json, to_json(result.to_dict()), "--json")
    png = result.png() if args.plot else None
    if png is not None:
        options.write_output(args.plot, png, "--plot")
    if result.interrupted:
        return 130
    return 1 if result.failed else 0
