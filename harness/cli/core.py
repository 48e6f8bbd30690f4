"""``harness plugins``, ``harness run`` and ``harness verify``."""
from __future__ import annotations

import sys

from harness import api
from harness.cli import distributed, newplugin
from harness.cli.args import add_algorithm_option, add_role_options, add_task_options, registry_from_args, task_options
from harness.core.errors import HarnessError
from harness.core.files import to_json
from harness.core.roles import ROLES
from harness.output.render import table
from harness.tasks import DEFAULT_TASK, reference


def add_parser(sub, common) -> None:
    p = sub.add_parser("plugins", parents=[common], help="list plugins and what each provides")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--hook", metavar="NAME", help="only plugins implementing hook NAME")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("tasks", parents=[common], help="list tasks and which components support each")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser("algorithms", parents=[common],
                       help="list optimization algorithms, their book hyper-parameters and implementations")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_algorithms)

    p = sub.add_parser("run", parents=[common], help="train one combination and print its losses")
    add_role_options(p, multiple=False)
    add_algorithm_option(p, multiple=False)
    p.add_argument(
        "--fused",
        action="store_true",
        help="run model, loss and optimizer as the fused step a plugin registered for them (see harness plugins)",
    )
    p.add_argument("--ctx", default="cpu", help="cpu, gpu or gpu:N (default %(default)s)")
    add_task_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    distributed.add_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "verify",
        parents=[common],
        help="check combinations compute the same numbers (default: the built-in plugins')",
        description="Train combinations without shuffling from the same parameters and compare each with the "
        "reference (all scratch, or the first combination). By default only the built-in plugins' "
        "implementations take part: third-party ones may be different maths on purpose. Name them with "
        "--optimizer NAME etc. (repeatable; roles not named use the built-ins) or use --all. Every combination "
        "with a fused step is verified fused too.",
    )
    for role in ROLES:
        p.add_argument(f"--{role}", action="append", metavar="NAME",
                       help=f"{role} implementation(s) to verify (default: built-ins)")
    add_algorithm_option(p, multiple=True)
    p.add_argument("--all", action="store_true", help="every installed implementation of roles not named")
    p.add_argument(
        "--against-seed",
        action="store_true",
        help="compare every combination with the all-scratch run, third-party components too "
        "(default: a third-party component is compared with itself on scratch partners)",
    )
    p.add_argument("--ctx", default="cpu", help="cpu, gpu or gpu:N (default %(default)s)")
    add_task_options(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_verify)

    newplugin.add_parser(sub, common)


def cmd_plugins(args) -> int:
    listing = api.plugins(args.plugin_specs, args.strict_plugins, hook=args.hook)
    registry = listing.registry
    skipped = registry.skipped
    if args.json:
        print(listing.to_json())
        return 0
    rows = listing.rows()
    columns = [c for c in listing.columns if c != api.FUSED_COLUMN or any(r[c] for r in rows)]  # fused only if any
    print(table(rows, columns))
    print("components by task: harness tasks")
    for clash, owners in sorted(registry.conflicts.items()):
        print(f"not selectable: {clash[0]} {clash[1]!r} is registered by " + " and ".join(owners))
    for skip in skipped:
        print(f"skipped {skip.name} ({skip.source}): {skip.reason}")
    return 0


def cmd_tasks(args) -> int:
    registry = registry_from_args(args)
    rows = []
    for name in registry.task_names():
        entry = registry.tasks[name]
        row = {"task": name, "plugin": entry.plugin, "options": ", ".join(entry.options())}
        try:
            task = registry.make_task(name)
        except HarnessError as exc:  # e.g. a data set that is not there: still list the task
            row["description"] = f"cannot build with defaults: {exc}"
        else:
            d = task.defaults
            row.update({"kind": task.kind, "output": task.output, "description": task.description,
                        "defaults": f"epochs {d.epochs}, batch {d.batch_size}, lr {d.lr:g}",
                        "target": task.target.describe(), "verify tolerance": task.tolerance,
                        "params": [{"name": n, "shape": list(s)} for n, s in zip(task.param_names, task.param_shapes)],
                        "components": dict(task.components or {}), "workloads": [w.name for w in task.workloads],
                        "references": [n for n in reference.NEEDS if reference.missing_loops(n, task) is None]})
        row.update({role: registry.names(role, name) for role in ROLES})
        row["fused"] = [s.label for s in registry.fused_steps(name)]
        rows.append(row)
    if args.json:
        print(to_json({"tasks": rows}))
        return 0
    shown = [{**r, **{k: ", ".join(r[k]) for k in (*ROLES, "fused")}} for r in rows]
    print(table(shown, ["task", "plugin", "kind", "defaults", "target", *ROLES, "fused"]))
    print()
    for r in rows:
        print(f"{r['task']}: {r.get('description', '')}; options: {r['options'] or 'none'}")
        if "params" in r:
            params = ", ".join(f"{p['name']} ({', '.join(map(str, p['shape']))}{',' if len(p['shape']) == 1 else ''})"
                               for p in r["params"])
            chosen = ", ".join(f"{role} {name}" for role, name in r["components"].items())
            print(f"  output {r['output']}; params {params}; workloads {', '.join(r['workloads'])}; "
                  f"reference loops {', '.join(r['references']) or 'none'}"
                  + (f"; default components: {chosen}" if chosen else ""))
    return 0


def cmd_algorithms(args) -> int:
    rows = api.algorithms(args.plugin_specs, args.strict_plugins)
    if args.json:
        print(to_json({"algorithms": rows}))
        return 0
    shown = [{**r, "implementations": ", ".join(r["implementations"]),
              "defaults": r["defaults"], "verify tolerance": f"{r['tolerance']:g}"} for r in rows]
    print(table(shown, ["algorithm", "section", "title", "defaults", "implementations", "plugin", "verify tolerance"]))
    print()
    for r in rows:
        if r["why"]:
            print(f"{r['algorithm']}: tolerance {r['tolerance']:g}: {r['why']}")
    print("\nscratch Adam: harness run --optimizer scratch --algorithm adam; "
          "Gluon's: --optimizer gluon --algorithm adam")
    return 0


def cmd_run(args) -> int:
    dist = {name: getattr(args, name) for name in ("workers", "servers", "kvstore", "placement", "timeout",
                                                   "deadline", "host", "port", "hosts", "write_spec")}
    run = api.run(*(getattr(args, role) for role in ROLES), algorithm=args.algorithm, divisor=args.divisor,
                  fused=args.fused, task=args.task, ctx=args.ctx,
                  epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, plugins=args.plugin_specs,
                  strict=args.strict_plugins, echo=not args.json,
                  **task_options(args), **dist)
    if args.workers is not None:
        return distributed.print_run(run, args.json)
    result, combo, task = run.result, run.result.combination, run.result.task
    if args.json:
        print(run.to_json())
    if run.interrupted:
        print(f"harness: interrupted after {len(result.epochs)} finished epochs", file=sys.stderr)
        return 130
    if run.diverged:
        print(f"harness: error: {combo.label} diverged at epoch {result.diverged_at} (loss not finite); "
              "try a smaller --lr", file=sys.stderr)
        return 1
    if args.json:
        return 0
    fused = " as one fused step" if combo.fused else ""
    where = ""
    if task.name != DEFAULT_TASK:
        where = f"; task {task.name}" + (f" on {task.dataset}" if getattr(task, "dataset", None) else "")
    algorithm = f", algorithm={combo.algorithm} (lr {result.settings.lr:g})" if combo.algorithm != "sgd" else ""
    roles = ", ".join(f"{r}={getattr(combo, r)}" for r in ROLES)
    print(f"combination: {roles}{algorithm}{fused} on {result.ctx}{where}")
    for name, true in (task.truth() or {}).items():
        learned = result.params[name]
        if isinstance(true, list):
            print(f"{name} learned {_fmt(learned)}  true {_fmt(true)}")
        else:
            print(f"{name} learned {learned:.6f}  true {true:.6f}")
    return 0


def _fmt(values) -> str:
    return "[" + ", ".join(f"{v:.6f}" for v in values) + "]"


def cmd_verify(args) -> int:
    result = api.verify(args.task, **{role: getattr(args, role) for role in ROLES}, algorithm=args.algorithm,
                        divisor=args.divisor, all=args.all,
                        against_seed=args.against_seed, ctx=args.ctx, epochs=args.epochs, batch_size=args.batch_size,
                        lr=args.lr, plugins=args.plugin_specs, strict=args.strict_plugins, **task_options(args))
    if args.json:
        print(result.to_json())
    else:
        print(result.table())
        print("\n" + result.describe())
    return 0 if result.ok else 1
