"""``harness run --workers N`` and ``harness bench --workers 1,2,4``: the options and their printing.

``core.py`` and ``bench.py`` add these options to their parsers; :func:`harness.api.run` and
:func:`harness.api.bench` run the jobs.
"""
from __future__ import annotations

import sys

from harness.core.files import to_json
from harness.core.roles import ROLES
from harness.distributed.exchange import KVSTORES, PLACEMENTS


def add_options(parser, bench: bool = False) -> None:
    """``--workers`` and the rest of the parameter-server options."""
    g = parser.add_argument_group("data-parallel on MXNet's parameter server (docs/distributed.md)")
    if bench:
        g.add_argument("--workers", metavar="N,N,...",
                       help="instead: a scaling table, one job per worker count, e.g. 1,2,4")
        g.add_argument("--repeat", type=int, metavar="R",
                       help="run every job R times, in the order A B … B A, and pool their rounds (default 1)")
    else:
        g.add_argument("--workers", type=int, metavar="N", help="train data-parallel on N worker processes")
    # no defaults here: an option given without --workers is an error (harness.options.REQUIRES)
    g.add_argument("--servers", type=int, metavar="M", help="parameter servers (default 1)")
    g.add_argument("--kvstore", help=f"{', '.join(KVSTORES)} (default dist_sync)")
    g.add_argument("--placement",
                   help="where the optimizer runs: " + "; ".join(f"{k}: {v}" for k, v in PLACEMENTS.items())
                   + " (default harness)")
    g.add_argument("--timeout", type=float, metavar="S",
                   help="end the job when a worker reports no progress for S seconds (default 30.0)")
    g.add_argument("--deadline", type=float, metavar="S", help="end the job after S seconds in all (default: none)")
    g.add_argument("--host", help="address the scheduler binds and every node connects to (default 127.0.0.1)")
    g.add_argument("--port", type=int, help="scheduler port (default: a free one, checked)")
    g.add_argument("--hosts", metavar="FILE",
                   help="start servers and workers round-robin on these addresses over ssh (one per line)")
    if not bench:
        g.add_argument("--write-spec", metavar="PATH",
                       help="write the workers' job spec and the commands to start each node by hand, run nothing")


def print_run(run, as_json: bool) -> int:
    """``harness run --workers N``: the result of :func:`harness.api.run` with ``workers``."""
    doc, combo, settings = run.document, run.combination, run.settings
    if run.status == "written":
        print(manual_commands(run.job, run.spec_path))
        return 0
    if as_json:
        print(to_json(doc))
    if run.status == "interrupted":
        print(f"harness: interrupted; ended the job's {run.processes} processes", file=sys.stderr)
        return 130
    if run.status != "ok":
        print(f"harness: error: {run.error}; ended the job's {run.processes} processes in "
              f"{run.timings.get('cleanup_s', 0):.1f} s", file=sys.stderr)
        return 1
    if as_json:
        return 0
    ranks = doc["ranks"]
    first = ranks["0"]["result"]
    print(f"combination: {', '.join(f'{r}={getattr(combo, r)}' for r in ROLES)} on {run.workers} workers "
          f"+ {doc['servers']} server(s), {doc['kvstore']}; update: {first['update']}")
    print(f"each worker: {run.steps} steps of {settings.batch_size} per epoch "
          f"(global batch {settings.batch_size * run.workers}, {first['shard_examples']} examples per shard)")
    truth = run.task.truth()
    if truth and set(truth) == {"w", "b"}:
        for rank, w in ranks.items():
            params = w["result"]["params"]
            print(f"rank {rank}: w learned [{', '.join(f'{v:.6f}' for v in params['w'])}]  b {params['b']:.6f}")
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
    lines.append(f"  srun -n {1 + job.servers + job.workers} python -m harness.distributed.node "
                 f"--scheduler {job.host}:{port} --servers {job.servers} {spec_path}")
    return "\n".join(lines)


def print_scaling(result, tablefmt: str) -> int:
    """``harness bench --workers 1,2,4``: the table, what ran, the environment."""
    from harness.measure import environment

    print(result.table(tablefmt))
    print("\n" + result.summary())
    print(environment.summary(result.measured.machine, result.measured.commit))
    if result.interrupted:
        print(f"harness: interrupted; kept the {len(result.rows_)} finished jobs", file=sys.stderr)
        return 130
    return 1 if result.failed else 0
