"""``harness effects``: what each role choice costs, from a saved run or a new measurement."""
from __future__ import annotations

from harness import api
from harness.analysis import history
from harness.cli.args import add_role_options, registry_from_args
from harness.core.roles import ROLES
from harness.measure import workloads


def add_parser(sub, common) -> None:
    p = sub.add_parser(
        "effects", parents=[common], help="what each role choice costs: main effects and interactions",
        description="Estimate each role's main effect (e.g. 'model: gluon instead of scratch ×0.71 (0.69–0.73)') "
        "and the two-way interactions on log epoch time and on the final quality metric, from a saved run (RUN: a "
        "--json file or a saved-run selector such as 0003) or, without RUN, from a new measurement of the matrix "
        "(bench's role and workload options). See docs/statistics.md.",
    )
    p.add_argument("run", nargs="?", metavar="RUN", help="a harness bench --json file or a saved run in --storage")
    p.add_argument("--storage", default=history.DEFAULT_STORAGE, metavar="DIR",
                   help="where saved runs are (default %(default)s)")
    p.add_argument("--confidence", type=float, default=0.95,
                   help="confidence of each family's simultaneous intervals (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print the effects as JSON")
    add_role_options(p, multiple=True)
    p.add_argument("--ctx", default="cpu", help="contexts to measure on, e.g. cpu,gpu (default %(default)s)")
    workloads.add_workload_options(p.add_argument)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_effects)


def cmd_effects(args) -> int:
    if args.run:
        given = [f"--{n.replace('_', '-')}" for n in ("task", "workload", *workloads.OVERRIDES, *ROLES)
                 if getattr(args, n, None) is not None]
        if given:
            from harness.core.errors import HarnessError

            raise HarnessError(f"{', '.join(given)} set a new measurement; RUN {args.run} is already measured")
        result = api.effects(args.run, confidence=args.confidence, storage=args.storage)
    else:
        load = workloads.workload_from(lambda dest: getattr(args, dest))
        result = api.effects(confidence=args.confidence, task=load.task, workload=load.name,
                             **{role: getattr(args, role) for role in ROLES}, ctx=args.ctx, references=False,
                             progress=not args.quiet, registry=registry_from_args(args),
                             **{name: getattr(args, name) for name in workloads.OVERRIDES})
    print(result.to_json() if args.json else result.text())
    return 0
