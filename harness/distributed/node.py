"""One node of a job started by ``mpirun`` or ``srun``: the role comes from the launcher's rank.

``python -m harness.distributed.node --scheduler HOST:PORT --servers M SPEC.json`` on every rank: rank 0 is
the scheduler, ranks 1..M the servers, the rest workers (their kvstore ranks come from the scheduler).
Each node binds only to the address in ``DMLC_NODE_HOST`` (or the interface in ``DMLC_INTERFACE``),
which the user names; rank 0 binds the scheduler's address.
"""
from __future__ import annotations

import argparse
import os
import sys

#: (rank, size) variables of the launchers we know, first found wins.
RANK_VARS = (("SLURM_PROCID", "SLURM_NTASKS"), ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
             ("PMIX_RANK", "PMIX_SIZE"), ("PMI_RANK", "PMI_SIZE"))


def rank_and_size(env) -> tuple[int, int]:
    for rank, size in RANK_VARS:
        if rank in env and size in env:
            return int(env[rank]), int(env[size])
    names = ", ".join(f"{r}/{s}" for r, s in RANK_VARS)
    raise SystemExit(f"harness.distributed.node: error: no launcher rank in the environment (looked for {names})")


def node_env(env, scheduler: str, servers: int) -> dict:
    """The ``DMLC_*`` variables of this rank's node."""
    host, _, port = scheduler.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"harness.distributed.node: error: --scheduler must be HOST:PORT, got {scheduler!r}")
    rank, size = rank_and_size(env)
    workers = size - 1 - servers
    if servers < 1 or workers < 1:
        raise SystemExit(f"harness.distributed.node: error: {size} ranks cannot hold a scheduler, {servers} server(s) "
                         "and at least one worker")
    role = "scheduler" if rank == 0 else "server" if rank <= servers else "worker"
    out = {"DMLC_ROLE": role, "DMLC_PS_ROOT_URI": host, "DMLC_PS_ROOT_PORT": port,
           "DMLC_NUM_SERVER": str(servers), "DMLC_NUM_WORKER": str(workers)}
    if role == "scheduler":
        out["DMLC_NODE_HOST"] = host
    elif not (env.get("DMLC_NODE_HOST") or env.get("DMLC_INTERFACE")):
        raise SystemExit("harness.distributed.node: error: set DMLC_NODE_HOST (this node's address) or DMLC_INTERFACE: "
                         "the harness binds only to addresses you name")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.distributed.node", description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", required=True, metavar="HOST:PORT")
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("spec", metavar="SPEC.json")
    args = parser.parse_args(argv)
    os.environ.update(node_env(os.environ, args.scheduler, args.servers))  # before mxnet reads it
    if os.environ["DMLC_ROLE"] == "worker":
        from harness.distributed.worker import main as worker_main

        return worker_main([args.spec])
    import mxnet  # noqa: F401  (scheduler and server serve inside the import and exit there)

    return 0


if __name__ == "__main__":
    sys.exit(main())
