"""``harness run --workers N`` and ``harness bench --workers 1,2,4``: the options and what they run.

``core.py`` and ``bench.py`` add these options to their parsers and hand over when ``--workers`` is given.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

from harness.distributed.exchange import KVSTORES, PLACEMENTS, check_placement, takes_kvstore
from harness.core.errors import HarnessError
from harness.tasks import DEFAULT_TASK
from harness.core.loader import parse_specs
from harness.output.render import to_json, write_atomic
from harness.core.roles import ROLES, Combination
from harness.distributed.sharding import steps_per_epoch
from harness.cli.args import task_options


def add_options(parser, bench: bool = False) -> None:
    """``--workers`` and the rest of the parameter-server options."""
    g = parser.add_argument_group("data-parallel on MXNet's parameter server (docs/distributed.md)")
    if bench:
        g.add_argument("--workers", metavar="N,N,...",
                       help="instead: a scaling table, one job per worker count, e.g. 1,2,4")
        g.add_argument("--repeat", type=int, default=1, metavar="R",
                       help="run every job R times, in the order A B … B A, and pool their rounds (default 1)")
    else:
        g.add_argument("--workers", type=int, metavar="N", help="train data-parallel on N worker processes")
    g.add_argument("--servers", type=int, default=1, metavar="M", help="parameter servers (default %(default)s)")
    g.add_argument("--kvstore", default="dist_sync", help=f"{', '.join(KVSTORES)} (default %(default)s)")
    g.add_argument("--placement", default="harness",
                   help="where the optimizer runs: " + "; ".join(f"{k}: {v}" for k, v in PLACEMENTS.items())
                   + " (default %(default)s)")
    g.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="end the job when a worker reports no progress for S seconds (default %(default)s)")
    g.add_argument("--deadline", type=float, metavar="S", help="end the job after S seconds in all (default: none)")
    g.add_argument("--host", default="127.0.0.1",
                   help="address the scheduler binds and every node connects to (default %(default)s)")
    g.add_argument("--port", type=int, help="scheduler port (default: a free one, checked)")
    g.add_argument("--hosts", metavar="FILE",
                   help="start servers and workers round-robin on these addresses over ssh (one per line)")
    if not bench:
        g.add_argument("--write-spec", metavar="PATH",
                       help="write the workers' job spec and the commands to start each node by hand, run nothing")


def read_hosts(path: str | None) -> list[str]:
    if not path:
        return []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise HarnessError(f"cannot read --hosts {path}: {exc.strerror or exc}") from None
    hosts = [line.split("#", 1)[0].strip() for line in lines]
    hosts = [h for h in hosts if h]
    if not hosts:
        raise HarnessError(f"--hosts {path} names no host")
    return hosts


def job_options(args, workers: int) -> dict:
    """Keyword arguments of :class:`harness.distributed.launch.Job` from the options (checked)."""
    check_placement(args.placement, args.kvstore)
    from harness.distributed.launch import Job

    options = dict(workers=workers, servers=args.servers, host=args.host, port=args.port, timeout=args.timeout,
                   deadline=args.deadline, hosts=read_hosts(args.hosts))
    Job({}, **options).check()
    return options


def check_combination(registry, combo: Combination, placement: str, task: str = DEFAULT_TASK) -> None:
    """Fail before any process starts when a combination cannot run distributed with ``placement``."""
    factories = registry.resolve(combo, task)
    if combo.fused:
        raise HarnessError(f"{combo.label}: a fused step cannot run distributed (the update is inside the step, "
                           "where no exchange fits); drop --fused")
    if placement != "harness" and not takes_kvstore(factories["optimizer"]):
        raise HarnessError(f"optimizer {combo.optimizer!r} does not take a kvstore (factory(net, lr, kvstore=, "
                           f"update_on_kvstore=)); --placement {placement} needs one that does, e.g. gluon; "
                           "--placement harness works with any optimizer")


def base_spec(args, combo: Combination) -> dict:
    extra, blocked = parse_specs(args.plugin_specs)
    return {"combination": combo.as_dict(), "kvstore": args.kvstore, "placement": args.placement, "ctx": args.ctx,
            "plugins": extra, "blocked": blocked, "strict": bool(args.strict_plugins)}


def cmd_run(args, registry, task, settings) -> int:
    """``harness run --workers N``: one job; rank 0's epochs as they finish, then the result."""
    from harness.distributed.launch import Job, launch

    from harness.core import context

    combo = Combination.for_task(task, args.fused, **{role: getattr(args, role) for role in ROLES})
    algorithm = getattr(args, "algorithm", None) or registry.default_algorithm(combo.optimizer, task.name)
    combo = replace(combo, algorithm=algorithm)
    check_combination(registry, combo, args.placement, task.name)
    context.resolve(args.ctx)  # an unusable context fails here, not in every worker
    options = job_options(args, args.workers)
    steps = steps_per_epoch(task.num_examples, settings.batch_size, args.workers)
    given = {k: v for k, v in task_options(args).items() if v is not None}
    spec = {**base_spec(args, combo), "task": {"name": task.name, **given}, "settings": asdict(settings)}
    job = Job(spec, **options)
    job.check()
    if args.write_spec:
        write_atomic(args.write_spec, json.dumps(spec, indent=2) + "\n")
        print(manual_commands(job, args.write_spec))
        return 0

    def show(proc, event):
        if event["event"] == "epoch" and event["rank"] == 0 and not args.json:
            share = event["exchange_seconds"] / event["seconds"] if event["seconds"] else 0.0
            line = task.epoch_line(event["epoch"], event, event["seconds"])
            print(f"{line[:line.rindex(')')]}, rank 0, exchange {100 * share:.0f}%)", flush=True)

    result = launch(job, on_event=show)
    document = {
        "combination": combo.as_dict(), "task": task.as_dict(), "settings": asdict(settings),
        "workers": args.workers, "servers": args.servers, "kvstore": args.kvstore, "placement": args.placement,
        "status": result.status, "error": result.error, "port": result.port, "timings": result.timings,
        "ranks": {str(rank): w for rank, w in sorted(result.workers.items())},
    }
    if args.json:
        print(to_json(document))
    total = 1 + args.servers + args.workers
    if result.status == "interrupted":
        print(f"harness: interrupted; ended the job's {total} processes", file=sys.stderr)
        return 130
    if result.status != "ok":
        print(f"harness: error: {result.error}; ended the job's {total} processes in "
              f"{result.timings.get('cleanup_s', 0):.1f} s", file=sys.stderr)
        return 1
    if not args.json:
        first = result.workers[0]["result"]
        print(f"combination: {', '.join(f'{r}={getattr(combo, r)}' for r in ROLES)} on {args.workers} workers "
              f"+ {args.servers} server(s), {args.kvstore}; update: {first['update']}")
        print(f"each worker: {steps} steps of {settings.batch_size} per epoch "
              f"(global batch {settings.batch_size * args.workers}, {first['shard_examples']} examples per shard)")
        truth = task.truth()
        for rank, w in sorted(result.workers.items()):
            params = w["result"]["params"]
            if truth and set(truth) == {"w", "b"}:
                print(f"rank {rank}: w learned [{', '.join(f'{v:.6f}' for v in params['w'])}]  b {params['b']:.6f}")
        if truth and set(truth) == {"w", "b"}:
            print(f"true w [{', '.join(f'{v:.6f}' for v in truth['w'])}]  b {truth['b']:.6f}")
    return 0


def manual_commands(job, spec_path: str) -> str:
    """The commands that start each node of ``job`` by hand (another machine, mpirun, srun)."""
    from harness.distributed.launch import SERVE, dmlc_env

    port = job.port or 9091
    lines = [f"wrote {spec_path}; start these (each on the machine whose address is DMLC_NODE_HOST):"]
    roles = [("scheduler", job.host)] + [("server", "ADDR")] * job.servers + [("worker", "ADDR")] * job.workers
    for role, addr in roles:
        env = dmlc_env(job, role, port, addr)
        env.pop("DMLC_INTERFACE", None)
        head = " ".join(f"{k}={v}" for k, v in env.items())
        cmd = f"python -m harness.distributed.worker {spec_path}" if role == "worker" else f'python -c "{SERVE}"'
        lines.append(f"  {head} {cmd}")
    lines.append("or, under mpirun/srun (rank 0 scheduler, then servers, then workers; every rank but 0 needs "
                 "DMLC_NODE_HOST or DMLC_INTERFACE, see docs/distributed.md):")
    lines.append(f"  srun -n {1 + job.servers + job.workers} python -m harness.distributed.node --scheduler {job.host}:{port} "
                 f"--servers {job.servers} {spec_path}")
    return "\n".join(lines)


def parse_workers(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise HarnessError(f"--workers takes comma-separated positive integers, e.g. 1,2,4; got {text!r}") from None
    if not counts or any(n < 1 for n in counts):
        raise HarnessError(f"--workers takes comma-separated positive integers, e.g. 1,2,4; got {text!r}")
    return list(dict.fromkeys(counts))


def cmd_bench(args, registry, load) -> int:
    """``harness bench --workers 1,2,4``: the scaling table, JSON and CSV."""
    import time

    from harness.output import bench_json
    from harness.distributed import scaling as dist_bench
    from harness.measure import environment
    from harness.measure import planning
    from harness.cli.bench import _check_writable

    counts = parse_workers(args.workers)
    if any(a != "sgd" for a in getattr(args, "algorithm", None) or []):
        raise HarnessError("--algorithm with --workers: the scaling benchmark runs plain SGD (drop --algorithm, "
                           "or use harness run --workers N --algorithm NAME)")
    if args.repeat < 1:
        raise HarnessError(f"--repeat must be a positive integer, got {args.repeat}")
    options = job_options(args, max(counts))
    ctxs = planning.parse_ctxs(args.ctx)
    if len(ctxs) != 1:
        raise HarnessError(f"--workers runs on one context; got --ctx {args.ctx}")
    task = load.build_task(registry)
    settings = load.settings(task)
    load = replace(load, batch_size=settings.batch_size, lr=settings.lr)  # what every worker rebuilds
    for n in counts:
        steps_per_epoch(task.num_examples, load.batch_size, n)
    fixed = {role: getattr(args, role) for role in ROLES}
    if any(fixed.values()) or args.all:
        combos = [c for c in planning.select(registry, fixed, args.all, task=load.task) if not c.fused]
    else:  # each plugin's own combination: the scaling of scratch, gluon, fast
        combos = registry.own_combinations(load.task)
    for combo in combos:
        check_combination(registry, combo, args.placement, load.task)
    for path in (args.json, args.csv):
        _check_writable(path)
    planned = dist_bench.cases(combos, counts, ctxs[0], load, args.servers, args.kvstore, args.placement,
                               task.num_examples)

    def progress(row):
        if not args.quiet:
            print(f"done {row.case.combo.label} × {row.case.workers} worker(s): {row.status}", file=sys.stderr, flush=True)

    start = time.perf_counter()
    base = {**base_spec(args, Combination()), "ctx": ctxs[0]}
    rows, interrupted = dist_bench.run_scaling(planned, options, base, args.repeat, on_row=progress)
    wall = time.perf_counter() - start
    machine, commit = environment.machine_info(), environment.commit_info()
    for path, render in ((args.json, lambda: bench_json.to_json_text(rows, interrupted, machine, commit) + "\n"),
                         (args.csv, lambda: dist_bench.to_csv(rows, machine, commit))):
        if path:
            try:
                write_atomic(path, render())
            except OSError as exc:
                raise HarnessError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(dist_bench.render_table(rows, args.format))
    failed = sum(r.status == "failed" for r in rows)
    print(f"\n{len(rows)} of {len(planned)} rows ({len(planned) * args.repeat} jobs); {failed} failed; workload {load.label} (N={task.num_examples}, "
          f"D={getattr(task, 'num_inputs', '')}, batch {load.batch_size} per worker), {load.rounds} rounds after {load.warmup} warm-up"
          f"{f' in each of {args.repeat} jobs (A B … B A)' if args.repeat > 1 else ''}; "
          f"{args.kvstore}, {args.servers} server(s), placement {args.placement}; scheduler, servers and workers share "
          f"this machine's {environment.machine_info()['harness']['cpu_count']['usable']} cores; {wall:.1f} s")
    print("a round = one global epoch (slowest rank); efficiency = samples/s with N workers / (N × with 1); "
          "exchange share = time in the kvstore exchange / epoch time"
          + (" (the optimizer's whole step for placements kvstore and servers)" if args.placement != "harness" else ""))
    print(environment.summary(machine, commit))
    if interrupted:
        print(f"harness: interrupted; kept the {len(rows)} finished jobs", file=sys.stderr)
        return 130
    return 1 if failed else 0
