"""``harness plugins``, ``harness run`` and ``harness verify``."""
from __future__ import annotations

import sys

from .. import context
from ..errors import Diverged, HarnessError
from ..report import role_columns, table, to_json
from ..roles import ROLES, Combination
from ..train import Session, train
from ..verify import TOLERANCE, default_combinations, verify
from . import add_role_options, add_task_options, distributed, newplugin, registry_from_args, settings_from_args, task_from_args


def add_parser(sub, common) -> None:
    p = sub.add_parser("plugins", parents=[common], help="list plugins and what each provides")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--hook", metavar="NAME", help="only plugins implementing hook NAME")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("run", parents=[common], help="train one combination and print its losses")
    add_role_options(p, multiple=False)
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
        p.add_argument(f"--{role}", action="append", metavar="NAME", help=f"{role} implementation(s) to verify (default: built-ins)")
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
    registry = registry_from_args(args)
    infos = list(registry.plugins.values())
    skipped = registry.skipped
    if args.hook:
        known = sorted(n for n in dir(registry.pm.hook) if not n.startswith("_"))
        hook = args.hook if args.hook in known else f"register_{args.hook}"  # the table's short names work too
        if hook not in known:
            raise HarnessError(f"unknown hook {args.hook!r}; hooks: {', '.join(known)}")
        infos = [i for i in infos if hook in i.hooks]
    if args.json:
        print(
            to_json(
                {
                    "plugins": [i.as_dict() for i in infos],
                    "skipped": [s.as_dict() for s in skipped],
                    "roles": {r: {n: c.plugin for n, c in sorted(registry.components[r].items())} for r in ROLES},
                    "fused": {step.label: step.plugin for step in registry.fused_steps()},
                }
            )
        )
        return 0
    rows = [
        {
            "plugin": info.name,
            "distribution": info.distribution or "",
            "version": info.version or "",
            "source": info.source,
            "hooks": ", ".join(h.removeprefix("register_") for h in info.hooks),
            **{r: ", ".join(info.provides.get(r, [])) for r in ROLES},
            "fused (model/loss/optimizer)": ", ".join(info.provides.get("fused", [])),
        }
        for info in infos
    ]
    fused = ["fused (model/loss/optimizer)"] if any(r["fused (model/loss/optimizer)"] for r in rows) else []
    print(table(rows, ["plugin", "distribution", "version", "source", "hooks", *ROLES, *fused]))
    for clash, owners in sorted(registry.conflicts.items()):
        print(f"not selectable: {clash[0]} {clash[1]!r} is registered by " + " and ".join(owners))
    for skip in skipped:
        print(f"skipped {skip.name} ({skip.source}): {skip.reason}")
    return 0


def cmd_run(args) -> int:
    registry = registry_from_args(args)
    task = task_from_args(args)
    settings = settings_from_args(args, task)
    if args.workers is not None:
        return distributed.cmd_run(args, registry, task, settings)
    combo = Combination(**{role: getattr(args, role) for role in ROLES}, fused=args.fused)
    registry.resolve(combo)  # unknown names, or no fused step, fail before any work
    ctx = context.resolve(args.ctx)
    session = Session(registry, combo, task, settings, ctx)

    def show(record):
        if not args.json:
            print("epoch %d, loss %f (%.3fs)" % (record["epoch"], record["loss"], record["seconds"]), flush=True)

    try:
        result = train(session, on_epoch=show)
    except Diverged as exc:
        if args.json:
            print(to_json(exc.result.as_dict()))
        print(f"harness: error: {combo.label} diverged at epoch {exc.epoch} (loss not finite); try a smaller --lr", file=sys.stderr)
        return 1
    if args.json:
        print(to_json(result.as_dict()))
        return 0
    fused = " as one fused step" if combo.fused else ""
    print(f"combination: {', '.join(f'{r}={getattr(combo, r)}' for r in ROLES)}{fused} on {ctx}")
    print(f"w learned {_fmt(result.params['w'])}  true {_fmt(task.true_w.tolist())}")
    print(f"b learned {result.params['b']:.6f}  true {task.true_b:.6f}")
    return 0


def _fmt(values) -> str:
    return "[" + ", ".join(f"{v:.6f}" for v in values) + "]"


def cmd_verify(args) -> int:
    registry = registry_from_args(args)
    task = task_from_args(args)
    settings = settings_from_args(args, task)
    ctx = context.resolve(args.ctx)
    combos = default_combinations(registry, every=args.all, **{role: getattr(args, role) for role in ROLES})
    rows, reference, ok = verify(registry, task, settings, ctx, combos, by_component=not args.against_seed)
    references = list(dict.fromkeys(r["reference"] for r in rows))
    if args.json:
        print(
            to_json(
                {
                    "reference": reference.as_dict(),
                    "tolerance": TOLERANCE,
                    "ok": ok,
                    "rows": [{**r, "combination": r["combination"].as_dict(), "reference": r["reference"].as_dict()} for r in rows],
                }
            )
        )
        return 0 if ok else 1
    shown = [
        {
            **role_columns(r["combination"]),
            "step": "fused" if r["combination"].fused else "",
            "reference": r["reference"].label,
            "final loss": r["final_loss"],
            "max |Δ| vs ref": r["max_abs_diff"],
            "status": ("ok" if r["ok"] else "DIFFERS") if not r["error"] else f"FAILED: {r['error']}",
        }
        for r in rows
    ]
    step = ["step"] if any(r["combination"].fused for r in rows) else []
    columns = [*ROLES, *step, *(["reference"] if len(references) > 1 else []), "final loss", "max |Δ| vs ref", "status"]
    print(table(shown, columns, floatfmt=".3g"))
    print(
        f"\nreference{'s' if len(references) > 1 else ''}: {', '.join(c.label for c in references)}; shuffling off, "
        f"same initial parameters, {settings.epochs} epochs on {ctx}; tolerance {TOLERANCE:g}"
    )
    print("all combinations agree" if ok else "some combinations DIFFER from the reference")
    return 0 if ok else 1
