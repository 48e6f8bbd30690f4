"""What the harness costs: the seed's hand-written 从零实现 loop against the
harness running the all-scratch combination, same data, same initial
parameters, rounds interleaved so machine noise hits both alike; and, free of
noise, what one epoch of each asks of Python and MXNet, counted."""
from __future__ import annotations

import atexit
import functools
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass

import mxnet as mx
from mxnet import autograd, nd

from harness.analysis import stats
from harness.core.registry import Registry
from harness.core.roles import Combination
from harness.core.task import Task, seed_everything
from harness.core.timing import EpochRunner
from harness.core.train import Session, Settings


# --- the seed note, 从零实现, verbatim (print and plotting left out) ---
def data_iter(batch_size, features, labels):
    num_examples = len(features)
    indices = list(range(num_examples))
    random.shuffle(indices)  # 样本的读取顺序是随机的
    for i in range(0, num_examples, batch_size):
        j = nd.array(indices[i: min(i + batch_size, num_examples)])
        # take函数根据索引返回对应元素
        yield features.take(j), labels.take(j)


def linreg(X, w, b):
    return nd.dot(X, w) + b


def squared_loss(y_hat, y):
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def sgd(params, lr, batch_size):
    for param in params:
        param[:] = param - lr * param.grad / batch_size


def seed_epoch(batch_size, features, labels, w, b, lr, net=linreg, loss=squared_loss):
    """One pass of the seed's ``for epoch`` body, before its evaluation and print."""
    for X, y in data_iter(batch_size, features, labels):
        with autograd.record():
            l = loss(net(X, w, b), y)  # l是有关小批量X和y的损失
        l.backward()  # 小批量的损失对模型参数求梯度
        sgd([w, b], lr, batch_size)  # 使用小批量随机梯度下降迭代模型参数
# --- end of the seed's code ---


class SeedLoop:
    """The seed's loop on the harness's task data and initial parameters, on CPU."""

    def __init__(self, task: Task, settings: Settings, ctx):
        split = task.data(ctx)
        self.features, self.labels = split.features, split.labels
        self.w, self.b = task.initial_params(ctx)
        self.w.attach_grad()
        self.b.attach_grad()
        self.settings = settings

    def run_epoch(self) -> None:
        seed_epoch(self.settings.batch_size, self.features, self.labels, self.w, self.b, self.settings.lr)

    def evaluate(self) -> float:
        return float(squared_loss(linreg(self.features, self.w, self.b), self.labels).mean().asscalar())


def measure_overhead(registry: Registry, task: Task, settings: Settings, ctx, rounds: int, warmup: int) -> dict:
    """:func:`summarize` of both loops' epoch times; ``ratio`` 1.0 means no overhead.

    Each round times one seed epoch and one harness epoch, alternating which goes first.  After the
    timed rounds one more epoch of each is counted (:func:`count_epoch`): ``per_step`` is
    :func:`extra_per_step` of the two.
    """
    seed_everything(task.seed)
    runners = {
        "seed": EpochRunner(SeedLoop(task, settings, ctx)),
        "harness": EpochRunner(Session(registry, Combination(), task, settings, ctx)),
    }
    for i in range(warmup + rounds):
        for name in ("seed", "harness") if i % 2 == 0 else ("harness", "seed"):
            runners[name].epoch()
            runners[name].evaluate()
    result = summarize(runners["seed"].seconds[warmup:], runners["harness"].seconds[warmup:])
    steps = math.ceil(task.num_examples / settings.batch_size)
    counts = {name: count_epoch(runner.session, task.seed) for name, runner in runners.items()}
    return {**result, "per_step": extra_per_step(counts["seed"], counts["harness"], steps)}


#: Profiler entries left out of :class:`Counts`: how often the engine waited depends on timing, not on the
#: work; the C API totals are the sums of the calls by name.
_UNCOUNTED = {"WaitForVar", "MXNet C API Calls", "MXNet C API Concurrency"}


@dataclass(frozen=True)
class Counts:
    """What one epoch asked of Python and MXNet: the same on a busy machine as on an idle one."""

    python_calls: int  # Python functions entered on the calling thread (sys.setprofile "call" events)
    api_calls: Counter  # MXNet C API calls by name (MXNet's profiler)
    operators: Counter  # operators MXNet's engine ran, by name (MXNet's profiler)


@functools.cache
def _trace_file() -> str:
    """Where MXNet's profiler may write its trace at exit: a private temporary directory, removed at exit.
    Not ``os.devnull``: MXNet replaces the file it writes, and that turned /dev/null into a regular file."""
    folder = tempfile.mkdtemp(prefix="harness-profile-")
    atexit.register(shutil.rmtree, folder, True)
    return os.path.join(folder, "profile.json")


def count_epoch(loop, seed: int) -> Counts:
    """Run one ``loop.run_epoch()`` counting its Python calls, MXNet C API calls and engine operators.

    Every RNG is seeded with ``seed`` first, so two loops that shuffle alike make the same calls.
    MXNet's profiler is left stopped; the trace it writes at exit goes to a file of its own (see :func:`_trace_file`).
    """
    seed_everything(seed)
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += event == "call"

    mx.nd.waitall()
    mx.profiler.set_config(profile_imperative=True, profile_api=True, aggregate_stats=True, filename=_trace_file())
    mx.profiler.set_state("run")
    previous = sys.getprofile()
    sys.setprofile(count)
    try:
        loop.run_epoch()
    finally:
        sys.setprofile(previous)
        mx.nd.waitall()
        mx.profiler.set_state("stop")
    domains = json.loads(mx.profiler.dumps(reset=True, format="json")).get("Time", {})

    def tally(domain: str) -> Counter:
        return Counter({k: v["Count"] for k, v in domains.get(domain, {}).items() if k not in _UNCOUNTED})

    return Counts(calls, tally("MXNET_C_API"), tally("operator"))


def extra_per_step(seed: Counts, harness: Counts, steps: int) -> dict:
    """Per step, what the harness asked beyond the seed's loop: Python calls, C API calls in all and by name,
    and operators by name (empty: the same operators); ``seed_*`` are the seed's own per-step numbers."""

    def diff(a: Counter, b: Counter) -> dict:
        return {k: (b[k] - a[k]) / steps for k in sorted(a.keys() | b.keys()) if b[k] != a[k]}

    return {
        "steps": steps,
        "python_calls": (harness.python_calls - seed.python_calls) / steps,
        "api_calls": (sum(harness.api_calls.values()) - sum(seed.api_calls.values())) / steps,
        "api_calls_by_name": diff(seed.api_calls, harness.api_calls),
        "operators": diff(seed.operators, harness.operators),
        "seed_python_calls": seed.python_calls / steps,
        "seed_api_calls": sum(seed.api_calls.values()) / steps,
        "seed_operators": sum(seed.operators.values()) / steps,
    }


TOLERANCE = 0.02  # the overhead goal: the harness within 2 % of the seed's loop


def summarize(seed_seconds: list[float], harness_seconds: list[float]) -> dict:
    """Medians, minimums and their ratios (harness / seed); the minimum is the least noise-prone on a busy machine.

    ``ratio_hl`` and ``ratio_ci`` are the Hodges–Lehmann ratio and its exact 95 % interval
    (:func:`harness.analysis.stats.ratio_ci`); ``verdict`` says whether that interval shows the overhead within
    :data:`TOLERANCE`, beyond it, or cannot tell yet.  ``ratio_paired``, ``ratio_paired_ci`` and
    ``paired_verdict`` are the same for the rounds taken as pairs (``seed_seconds[i]`` and
    ``harness_seconds[i]`` ran side by side): the median per-round ratio with its distribution-free
    interval (:func:`harness.analysis.stats.median_ci` of the log ratios), in which drift between rounds cancels.
    """
    seed_med, harness_med = statistics.median(seed_seconds), statistics.median(harness_seconds)
    hl = stats.ratio_ci(seed_seconds, harness_seconds)
    log_ratios = [math.log(h / s) for s, h in zip(seed_seconds, harness_seconds, strict=True)]
    ci = stats.median_ci(log_ratios)
    paired = stats.Interval(math.exp(ci.low), math.exp(ci.high), ci.level)
    return {
        "ratio_hl": hl.estimate,
        "ratio_ci": hl.ci.as_dict(),
        "verdict": _verdict(hl.ci),
        "ratio_paired": math.exp(statistics.median(log_ratios)),
        "ratio_paired_ci": paired.as_dict(),
        "paired_verdict": _verdict(paired),
        "seed_median_s": seed_med,
        "harness_median_s": harness_med,
        "ratio": harness_med / seed_med,
        "ratio_of_min": min(harness_seconds) / min(seed_seconds),
        "rounds": len(seed_seconds),
        "seed_seconds": list(seed_seconds),
        "harness_seconds": list(harness_seconds),
    }


def _verdict(ci: stats.Interval) -> str:
    if ci.level < stats.CONFIDENCE - 1e-9:
        return f"undecided: {ci.level:.0%} is all these rounds give; use more --rounds"
    if 1 / (1 + TOLERANCE) <= ci.low and ci.high <= 1 + TOLERANCE:
        return f"within {TOLERANCE:.0%}"
    if ci.low > 1 + TOLERANCE:
        return f"above {TOLERANCE:.0%}"
    if ci.high < 1 / (1 + TOLERANCE):
        return "the harness is faster"
    return f"undecided: the interval straddles ±{TOLERANCE:.0%}; use more --rounds"


def describe(result: dict) -> str:
    ci, paired = result["ratio_ci"], result["ratio_paired_ci"]
    return (
        f"harness overhead: seed loop {result['seed_median_s'] * 1e3:.2f} ms/epoch, harness all-scratch "
        f"{result['harness_median_s'] * 1e3:.2f} ms/epoch; ratio {result['ratio_hl']:.3f} (Hodges–Lehmann), "
        f"95% CI {ci['low']:.3f}–{ci['high']:.3f} ({ci['level']:.0%}): {result['verdict']}; "
        f"paired round by round {result['ratio_paired']:.3f}, 95% CI {paired['low']:.3f}–{paired['high']:.3f} "
        f"({paired['level']:.0%}): {result['paired_verdict']}; "
        f"{result['ratio']:.3f} by medians, {result['ratio_of_min']:.3f} by minimums, over {result['rounds']} "
        f"side-by-side rounds; target <= {1 + TOLERANCE:.2f}"
    )


def describe_counts(extra: dict) -> str:
    """One line: what each step of the harness asks beyond the seed's loop, counted."""

    def by_name(d: dict) -> str:
        return "; " + ", ".join(f"{k} {v:+g}" for k, v in d.items()) if d else ""

    ops = sum(extra["operators"].values())
    return (
        f"per step, counted: harness {extra['python_calls']:+.1f} Python calls "
        f"(seed {extra['seed_python_calls']:.0f}), "
        f"{extra['api_calls']:+g} MXNet C API calls "
        f"(seed {extra['seed_api_calls']:.0f}{by_name(extra['api_calls_by_name'])}), "
        f"{ops:+g} engine operations (seed {extra['seed_operators']:.0f}"
        f"{by_name(extra['operators']) if extra['operators'] else '; the same ones'})"
    )
