"""Scaling benchmarks: one parameter-server job per (combination, worker count), as bench rows.

A row's timed round is one global epoch: every rank's epoch starts at a barrier, and the round
takes as long as the slowest rank.  Throughput is global samples per second (every worker's
whole batches); scaling efficiency is ``throughput_N / (N × throughput_1)`` against the 1-worker
job of the same combination, kvstore, servers and placement (Horovod's definition; weak scaling:
the batch per worker stays fixed, the global batch grows with N).  Rows are :class:`harness.measure.measuring.Row`
objects, so the JSON is the same pytest-benchmark document ``harness bench`` writes.
"""
from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import asdict, dataclass

from harness.core.roles import ROLES, Combination
from harness.distributed.launch import Job, JobResult, launch
from harness.distributed.sharding import steps_per_epoch
from harness.measure import environment
from harness.measure.measuring import Row, stats_of
from harness.measure.planning import Case
from harness.measure.workloads import Workload
from harness.output.render import table


@dataclass(frozen=True)
class DistCase(Case):
    """A bench case run as a job of ``workers`` workers and ``servers`` servers."""

    workers: int = 1
    servers: int = 1
    kvstore: str = "dist_sync"
    placement: str = "harness"
    num_examples: int = 0  # the task's training rows; its batch size is the workload's after resolve

    @property
    def id(self) -> str:
        roles = [getattr(self.combo, r) for r in ROLES]
        return "-".join([self.workload.label, self.ctx, *roles, self.kvstore, f"w{self.workers}", f"s{self.servers}",
                         self.placement])

    @property
    def name(self) -> str:
        return f"test_distributed[{self.id}]"

    @property
    def steps(self) -> int:
        return steps_per_epoch(self.num_examples or self.workload.num_examples, self.workload.batch_size, self.workers)

    @property
    def global_examples(self) -> int:
        return self.steps * self.workload.batch_size * self.workers


def spec_for(case: DistCase, base: dict) -> dict:
    return {**base, "combination": case.combo.as_dict(), "workload": asdict(case.workload), "ctx": case.ctx,
            "kvstore": case.kvstore, "placement": case.placement}


def row_from(case: DistCase, results: list[JobResult]) -> Row:
    """The bench row of a case's jobs (one per ``--repeat``), their timed rounds pooled; a failed job fails
    the row, which keeps the epochs that finished."""
    load = case.workload
    partial = {"epoch_seconds_by_rank": [{str(r): [e["seconds"] for e in es] for r, es in res.epochs_by_rank().items()}
                                         for res in results],
               "timings": [res.timings for res in results], "ports": [res.port for res in results]}
    failed = [res for res in results if res.status != "ok"]
    if failed:
        return Row(case, "failed", failed[0].error, metrics=partial)
    per_round, shares, worker_step = [], [], []
    for res in results:
        ranks = res.epochs_by_rank()
        rounds = min(len(es) for es in ranks.values())
        per_round += [max(es[i]["seconds"] for es in ranks.values()) for i in range(load.warmup, rounds)]
        for es in ranks.values():
            timed = es[load.warmup:rounds]
            shares.append(math.fsum(e["exchange_seconds"] for e in timed) / math.fsum(e["seconds"] for e in timed))
            worker_step.append(statistics.median(e["seconds"] for e in timed) / case.steps)
    stats = stats_of(per_round)
    last = results[-1]
    first = last.workers[0]
    last_epoch = last.epochs_by_rank()[0][-1]
    metrics = {
        **partial,
        "workers": case.workers, "servers": case.servers, "kvstore": case.kvstore, "placement": case.placement,
        "update": first["result"]["update"], "jobs": len(results),
        "epoch_min_s": stats.min, "epoch_median_s": stats.median, "epoch_iqr_s": stats.iqr, "rounds": stats.rounds,
        "warmup": load.warmup, "steps_per_epoch": case.steps, "global_batch": load.batch_size * case.workers,
        "us_per_step": statistics.median(worker_step) * 1e6,
        "samples_per_s": case.global_examples / stats.median,
        "exchange_share": statistics.fmean(shares),
        "final_loss": last_epoch["loss"],
        "param_error": first["result"].get("param_error"),  # None where the task does not know the truth
        "test_acc": last_epoch.get("test_acc"),
        "epoch_seconds": per_round,
        "losses": [e["loss"] for e in last.epochs_by_rank()[0]],
        "target_loss": load.target_loss,
    }
    return Row(case, "ok", stats=stats, metrics=metrics)


def add_efficiency(rows: list[Row]) -> None:
    """``scaling_efficiency`` on every ok row whose 1-worker sibling ran ok."""
    def key(case: DistCase):
        return case.combo, case.ctx, case.workload.name, case.kvstore, case.servers, case.placement

    single = {key(r.case): r.metrics["samples_per_s"] for r in rows if r.status == "ok" and r.case.workers == 1}
    for r in rows:
        base = single.get(key(r.case))
        if r.status == "ok" and base:
            r.metrics["scaling_efficiency"] = r.metrics["samples_per_s"] / (r.case.workers * base)


def run_scaling(cases: list[DistCase], job_options: dict, base_spec: dict, repeat: int = 1,
                on_row=None) -> tuple[list[Row], bool]:
    """Each case as its own job, ``repeat`` times, in the order A B … B A (asv's interleaving across
    processes: load that drifts between jobs lands on every worker count alike); rounds pooled per case.
    Returns the rows and whether Ctrl-C stopped the run (rows then cover the cases with every job done)."""
    results: dict[int, list[JobResult]] = {i: [] for i in range(len(cases))}
    order = [i for rep in range(repeat) for i in (range(len(cases)) if rep % 2 == 0 else reversed(range(len(cases))))]
    rows: dict[int, Row] = {}
    for i in order:
        case = cases[i]
        job = Job(spec_for(case, base_spec), **{**job_options, "workers": case.workers, "servers": case.servers})
        result = launch(job)
        if result.status == "interrupted":
            return _ordered(rows), True
        results[i].append(result)
        if len(results[i]) == repeat or result.status != "ok":
            if i not in rows:
                rows[i] = row_from(case, results[i])
                add_efficiency(_ordered(rows))
                if on_row is not None:
                    on_row(rows[i])
    return _ordered(rows), False


def _ordered(rows: dict[int, Row]) -> list[Row]:
    return [rows[i] for i in sorted(rows)]


COLUMNS = [*ROLES, "workers", "servers", "kvstore", "update", "global batch", "epoch med (ms)", "IQR (ms)", "rounds",
           "µs/step/worker", "samples/s (global)", "exchange share", "efficiency", "final loss", "param err", "status"]


def display_rows(rows: list[Row]) -> list[dict]:
    shown = []
    for r in rows:
        m, case = r.metrics, r.case
        row = {**{role: getattr(case.combo, role) for role in ROLES}, "workers": case.workers,
               "servers": case.servers, "kvstore": case.kvstore}
        if r.status == "ok":
            eff = m.get("scaling_efficiency")
            row.update({
                "update": m["update"], "global batch": m["global_batch"],
                "epoch med (ms)": m["epoch_median_s"] * 1e3, "IQR (ms)": m["epoch_iqr_s"] * 1e3,
                "rounds": m["rounds"], "µs/step/worker": m["us_per_step"], "samples/s (global)": m["samples_per_s"],
                "exchange share": f"{m['exchange_share']:.0%}", "efficiency": f"{eff:.2f}" if eff is not None else "",
                "final loss": m["final_loss"], "param err": m["param_error"], "status": "ok",
            })
        else:
            row["status"] = f"FAILED: {r.error}"
        shown.append(row)
    return shown


def render_table(rows: list[Row], tablefmt: str = "simple") -> str:
    return table(display_rows(rows), COLUMNS, tablefmt=tablefmt, floatfmt=".4g")


CSV_FIELDS = ["workload", *ROLES, "ctx", "workers", "servers", "kvstore", "placement", "update", "status", "error",
              "global_batch", "epoch_median_s", "epoch_iqr_s", "epoch_min_s", "rounds", "warmup", "steps_per_epoch",
              "us_per_step", "samples_per_s", "exchange_share", "scaling_efficiency", "final_loss", "param_error"]


def to_csv(rows: list[Row], machine: dict | None = None, commit: dict | None = None) -> str:
    """One line per job (failed ones included), with the environment as ``harness bench`` records it."""
    machine, commit = machine or environment.machine_info(), commit or environment.commit_info()
    env = machine["harness"]
    context = {"mxnet": env["mxnet"]["version"], "omp_num_threads": env["env"].get("OMP_NUM_THREADS") or "",
               "mxnet_engine_type": env["env"].get("MXNET_ENGINE_TYPE") or "", "cpu_model": env["cpu_model"],
               "cpu_count": env["cpu_count"]["usable"], "python": env["python"], "commit": commit.get("id"),
               "dirty": commit.get("dirty")}
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS + list(context), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        c = r.case
        writer.writerow({**r.metrics, "workload": c.workload.name, **{role: getattr(c.combo, role) for role in ROLES},
                         "ctx": c.ctx, "workers": c.workers, "servers": c.servers, "kvstore": c.kvstore,
                         "placement": c.placement, "status": r.status, "error": r.error, **context})
    return out.getvalue()


def cases(combos: list[Combination], workers: list[int], ctx: str, load: Workload, servers: int, kvstore: str,
          placement: str, num_examples: int = 0) -> list[DistCase]:
    return [DistCase(combo, ctx, load, workers=n, servers=servers, kvstore=kvstore, placement=placement,
                     num_examples=num_examples) for combo in combos for n in workers]
