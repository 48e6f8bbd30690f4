"""Parameter-server jobs from the user's options: ``run --workers N`` (one job) and ``bench --workers 1,2,4``
(the scaling rows).  Every option is checked, and every combination, before any process starts."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.loader import parse_specs
from harness.core.roles import Combination
from harness.distributed.exchange import check_placement, takes_kvstore
from harness.distributed.sharding import steps_per_epoch


@dataclass
class JobOptions:
    """The parameter-server options (``None``: the default)."""

    servers: int | None = None
    kvstore: str | None = None
    placement: str | None = None
    timeout: float | None = None
    deadline: float | None = None
    host: str | None = None
    port: int | None = None
    hosts: str | None = None  # a file of addresses, one per line

    def __post_init__(self):
        self.servers = 1 if self.servers is None else self.servers
        self.kvstore = self.kvstore or "dist_sync"
        self.placement = self.placement or "harness"
        self.timeout = 30.0 if self.timeout is None else self.timeout
        self.host = self.host or "127.0.0.1"

    def job(self, workers: int, here: bool = True) -> dict:
        """Keyword arguments of :class:`harness.distributed.launch.Job` (checked); ``here``: the scheduler will
        run on this machine, so ``host`` must be one of its addresses (not so for a job written out)."""
        from harness.distributed.launch import Job, check_host

        check_placement(self.placement, self.kvstore)
        options = dict(workers=workers, servers=self.servers, host=self.host, port=self.port, timeout=self.timeout,
                       deadline=self.deadline, hosts=read_hosts(self.hosts))
        Job({}, **options).check()
        if here:
            check_host(self.host)
        return options

    def spec(self, combo: Combination, ctx: str, plugins: list, strict: bool) -> dict:
        extra, blocked = parse_specs([p for p in plugins if isinstance(p, str)])
        return {"combination": combo.as_dict(), "kvstore": self.kvstore, "placement": self.placement, "ctx": ctx,
                "plugins": extra, "blocked": blocked, "strict": bool(strict)}


def read_hosts(path: str | None) -> list[str]:
    if not path:
        return []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read --hosts {path}: {getattr(exc, 'strerror', None) or exc}") from None
    hosts = [line.split("#", 1)[0].strip() for line in lines]
    hosts = [h for h in hosts if h]
    if not hosts:
        raise HarnessError(f"--hosts {path} names no host")
    return hosts


def check_combination(registry, combo: Combination, placement: str, task: str) -> None:
    """Fail before any process starts when a combination cannot run distributed with ``placement``."""
    factories = registry.resolve(combo, task)
    if combo.fused:
        raise HarnessError(f"{combo.label}: a fused step cannot run distributed (the update is inside the step, "
                           "where no exchange fits); drop --fused")
    if placement != "harness" and not takes_kvstore(factories["optimizer"]):
        raise HarnessError(f"optimizer {combo.optimizer!r} does not take a kvstore (factory(net, lr, kvstore=, "
                           f"update_on_kvstore=)); --placement {placement} needs one that does, e.g. gluon; "
                           "--placement harness works with any optimizer")


def parse_workers(value) -> list[int]:
    """``"1,2,4"`` or ``[1, 2, 4]`` -> ``[1, 2, 4]`` (duplicates dropped)."""
    bad = HarnessError(f"--workers takes comma-separated positive integers, e.g. 1,2,4; got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, str):
        try:
            value = [int(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise bad from None
    if not isinstance(value, (list, tuple)) or not value:
        raise bad
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in value):
        raise bad
    return list(dict.fromkeys(value))


@dataclass
class Prepared:
    """A checked job, ready to launch or to write out."""

    job: object
    spec: dict
    steps: int


def prepare(registry, combo: Combination, task, settings, workers: int, opts: JobOptions, ctx: str, plugins,
            strict, task_options: dict, here: bool = True) -> Prepared:
    from harness.core import context
    from harness.distributed.launch import Job

    check_placement(opts.placement, opts.kvstore)  # before the optimizer is asked about the kvstore
    check_combination(registry, combo, opts.placement, task.name)
    context.resolve(ctx)  # an unusable context fails here, not in every worker
    job_kwargs = opts.job(workers, here)
    steps = steps_per_epoch(task.num_examples, settings.batch_size, workers)
    given = {k: v for k, v in task_options.items() if v is not None}
    spec = {**opts.spec(combo, ctx, plugins, strict), "task": {"name": task.name, **given},
            "settings": asdict(settings)}
    job = Job(spec, **job_kwargs)
    job.check()
    return Prepared(job, spec, steps)


def run(prepared: Prepared, on_epoch=None):
    """Launch the job; ``on_epoch(event)`` for each epoch rank 0 finishes.  Returns the launcher's result."""
    from harness.distributed.launch import launch

    def show(proc, event):
        if event["event"] == "epoch" and event["rank"] == 0 and on_epoch is not None:
            on_epoch(event)

    return launch(prepared.job, on_event=show)


@dataclass
class Scaling:
    """What ``bench --workers`` measured: rows (:class:`harness.measure.measuring.Row`), and how."""

    rows: list
    planned: list
    workload: object
    task: object
    opts: JobOptions
    repeat: int
    interrupted: bool
    wall_s: float
    machine: dict = field(default_factory=dict)
    commit: dict = field(default_factory=dict)


def plan_scaling(registry, load, workers, opts: JobOptions, ctx: str, fixed: dict, every: bool):
    """``(task, load, planned, job_kwargs, ctx)``, all checked."""
    from harness.distributed import scaling
    from harness.measure import planning

    counts = parse_workers(workers)
    ctxs = planning.parse_ctxs(ctx)
    if len(ctxs) != 1:
        raise HarnessError(f"--workers runs on one context; got --ctx {ctx}")
    check_placement(opts.placement, opts.kvstore)
    job_kwargs = opts.job(max(counts))
    task = load.build_task(registry)
    settings = load.settings(task)
    load = replace(load, batch_size=settings.batch_size, lr=settings.lr)  # what every worker rebuilds
    for n in counts:
        steps_per_epoch(task.num_examples, load.batch_size, n)
    if any(fixed.values()) or every:
        combos = [c for c in planning.select(registry, fixed, every, task=load.task) if not c.fused]  # --all's
    else:  # each plugin's own combination: the scaling of scratch, gluon, fast
        combos = registry.own_combinations(load.task)
    for combo in combos:
        check_combination(registry, combo, opts.placement, load.task)
    planned = scaling.cases(combos, counts, ctxs[0], load, opts.servers, opts.kvstore, opts.placement,
                            task.num_examples)
    return task, load, planned, job_kwargs, ctxs[0]


def measure_scaling(planned, task, load, opts: JobOptions, job_kwargs: dict, ctx: str, plugins, strict,
                    repeat: int = 1, on_row=None) -> Scaling:
    from harness.distributed import scaling
    from harness.measure import environment

    start = time.perf_counter()
    base = {**opts.spec(Combination(), ctx, plugins, strict)}
    rows, interrupted = scaling.run_scaling(planned, job_kwargs, base, repeat, on_row=on_row)
    return Scaling(rows, planned, load, task, opts, repeat, interrupted, time.perf_counter() - start,
                   environment.machine_info(), environment.commit_info())
