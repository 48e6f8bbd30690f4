"""Reference loops outside MXNet, to put MXNet's numbers in context: the generic machinery.  They are
not plugins and do not mix with roles.

A task brings its maths as :class:`harness.core.task.ReferenceLoops` (the built-in tasks' sit in their
modules); this module runs them.  Each reference trains on the host's data (``Task.data`` on the CPU, as
NumPy) from the host's initial parameters (``Task.initial_params``), in float32, with the host's step
``p ← p − lr·Σgrad/b`` and the harness's batch order policy: shuffle once per epoch
(``settings.shuffle``), else row order.  The loss and the accuracies follow the task's output contract
(``Task.output``): squared loss for a regression output, the logistic loss of one logit for a binary
classifier, the softmax cross-entropy of scores per class.  The API is the part of
:class:`harness.core.train.Session` a timing loop needs::

    ref = NumpyReference(task, settings)
    for epoch in range(settings.epochs):
        ref.run_epoch()        # synchronous: nothing is left queued
    ref.metrics()              # {"loss", ...}: like Task.metrics (accuracies for classification)
    loss = ref.evaluate()      # the mean training loss
    arrays = ref.arrays()      # the parameters as NumPy, like Session.arrays
    ref.close()                # ends the PyTorch worker process (a no-op for NumPy)

PyTorch runs in a worker process of its own: importing MXNet leaves PyTorch
one intra-op thread, and MXNet's OpenMP threads would compete with its own.
The worker never imports MXNet (it imports the task's ``torch_scores`` by name),
picks its best thread count by timing a few steps at each count
(``HARNESS_TORCH_THREADS=N`` fixes it) and reports it in
:meth:`TorchReference.extra_metrics`.  Timing a worker epoch from the host
adds a pipe round trip and the worker's wake-up to it: 1–10 ms on a busy
2-vCPU machine (``worker_epoch_seconds`` keeps the worker's own times).

:func:`references` lists every reference with why it cannot run here, if so.
This module imports MXNet only where it reads the host's task, so the worker
stays free of it.
"""
from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from harness.core.errors import HarnessError
from harness.core.task import BINARY, CLASSES, REGRESSION

if TYPE_CHECKING:  # the worker process must not import MXNet
    from harness.core.task import Task

#: Shuffled data up to this size is gathered once per epoch, larger data per batch.
GATHER_ONCE_BYTES = 4 << 20

#: Evaluation chunk: the whole split at once would need a (N, 256) float32 activation per pass.
EVAL_CHUNK = 8192

#: Environment variable fixing the PyTorch worker's intra-op threads (else the fastest is measured).
THREADS_ENV = "HARNESS_TORCH_THREADS"

#: Which of a task's :class:`~harness.core.task.ReferenceLoops` each reference needs.
NEEDS = {"numpy": ("numpy_scores", "numpy_step"), "torch": ("torch_scores",)}


def missing_loops(name: str, task: Task) -> str | None:
    """Why the reference ``name`` cannot train ``task`` (it declares no such loop), or None when it can."""
    loops = task.reference_loops
    absent = [f for f in NEEDS[name] if loops is None or getattr(loops, f, None) is None]
    if not absent:
        return None
    if loops is not None and (loops.why_none or {}).get(name):
        return loops.why_none[name]
    return f"task {task.name!r} declares no {name} loop (Task.reference_loops.{', '.join(absent)})"


def check_task(name: str, task: Task) -> None:
    """One-line error unless ``task`` brings the loops the reference ``name`` runs."""
    why = missing_loops(name, task)
    if why:
        raise HarnessError(f"the {name} reference cannot train task {task.name!r}: {why}")


def _host_data(task: Task, reference: str) -> dict:
    """The host's split and initial parameters as float32 NumPy arrays (test arrays ``None`` without a test split)."""
    import mxnet as mx

    check_task(reference, task)
    split = task.data(mx.cpu())
    out = {"features": split.features.asnumpy(), "labels": split.labels.asnumpy()}
    for name in ("test_features", "test_labels"):
        value = getattr(split, name)
        out[name] = value.asnumpy() if value is not None else None
    out["params"] = [p.asnumpy() for p in task.initial_params(mx.cpu())]
    return out


def _rows(features: np.ndarray | None) -> np.ndarray | None:
    """Each example as one row (images ``(N, 1, H, W)`` flattened; a view, no copy)."""
    return None if features is None else features.reshape(len(features), -1)


def _targets(output: str, labels: np.ndarray | None) -> np.ndarray | None:
    """Labels as the contract's loss takes them: class indices as integers, one output as a ``(N, 1)`` column."""
    if labels is None:
        return None
    return labels.astype(np.int64) if output == CLASSES else labels.reshape(-1, 1)


class _Batches:
    """One epoch's ``(X, y)`` batches: the harness's batch order policy for any array type.

    Shuffling draws one permutation per epoch from its own generator, seeded
    like the host's, so a reference never disturbs (or is disturbed by)
    anything else drawing random numbers.  Small data is gathered once and
    sliced; large data is gathered batch by batch as it is needed (the same
    batches, without a fresh copy of the data per epoch: at N=1e5, D=100 the
    copy's page faults cost more than the maths).
    """

    def __init__(self, num_examples: int, batch_size: int, shuffle: bool, seed: int, nbytes: int,
                 gather_once_bytes: int):
        self.num_examples, self.batch_size, self.shuffle = num_examples, batch_size, shuffle
        self.gather_once = nbytes <= gather_once_bytes
        self.rng = np.random.RandomState(seed)

    def epoch(self, features, labels, gather):
        n, size = self.num_examples, self.batch_size
        order = self.rng.permutation(n) if self.shuffle else None
        if order is not None and self.gather_once:
            features, labels, order = gather(features, order), gather(labels, order), None
        for i in range(0, n, size):
            if order is None:
                yield features[i:i + size], labels[i:i + size]
            else:
                rows = order[i:i + size]
                yield gather(features, rows), gather(labels, rows)


def _steps(num_examples: int, batch_size: int) -> int:
    return -(-num_examples // batch_size)


def _chunks(n: int):
    for i in range(0, n, EVAL_CHUNK):
        yield slice(i, i + EVAL_CHUNK)


# --- NumPy: the speed of light --------------------------------------------------------------------------------------

def _log_softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _numpy_loss_sum(output: str, out: np.ndarray, y: np.ndarray) -> float:
    """The contract's loss, summed over a chunk, in float64."""
    if output == CLASSES:
        return -float(_log_softmax(out)[np.arange(len(out)), y].astype(np.float64).sum())
    z = out.astype(np.float64)
    # -log sigmoid(z) for y = 1, -log(1 - sigmoid(z)) for y = 0, without overflow
    return float((np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).sum())


def _numpy_right(output: str, out: np.ndarray, y: np.ndarray) -> int:
    predicted = out.argmax(axis=1) if output == CLASSES else (out > 0).astype(y.dtype)
    return int((predicted == y).sum())


class NumpyReference:
    """The speed-of-light row: NumPy with the analytic gradient (the task's ``numpy_step``), no autograd."""

    name = "numpy"

    def __init__(self, task: Task, settings):
        self.task, self.settings = task, settings
        data = _host_data(task, self.name)
        loops, self.output = task.reference_loops, task.output
        self.scores, self.step = loops.numpy_scores, loops.numpy_step
        self.features, self.labels = _rows(data["features"]), _targets(self.output, data["labels"])
        self.test_features = _rows(data["test_features"])
        self.test_labels = _targets(self.output, data["test_labels"])
        self.params = [p.copy() for p in data["params"]]
        self.num_examples = len(self.features)
        self.lr = np.float32(settings.lr)
        self.batches = _Batches(self.num_examples, settings.batch_size, settings.shuffle, task.seed,
                                self.features.nbytes, GATHER_ONCE_BYTES)

    @property
    def steps_per_epoch(self) -> int:
        return _steps(self.num_examples, self.settings.batch_size)

    def run_epoch(self) -> None:
        # each step updates the parameters in place: they stay the same arrays
        for X, y in self.batches.epoch(self.features, self.labels, lambda a, rows: a.take(rows, axis=0)):
            self.step(self.params, X, y, self.lr / np.float32(len(X)))

    def _loss_and_acc(self, X, y) -> tuple[float, float]:
        """Mean loss and accuracy over a split (classification)."""
        total, right = 0.0, 0
        for rows in _chunks(len(X)):
            out = self.scores(self.params, X[rows])
            total += _numpy_loss_sum(self.output, out, y[rows])
            right += _numpy_right(self.output, out, y[rows])
        return total / len(X), right / len(X)

    def metrics(self) -> dict:
        """Like ``Task.metrics``: the mean training loss; classification adds train and test accuracy."""
        if self.output == REGRESSION:
            err = self.scores(self.params, self.features) - self.labels
            return {"loss": float(np.mean(err * err / 2))}
        loss, train_acc = self._loss_and_acc(self.features, self.labels)
        _, test_acc = self._loss_and_acc(self.test_features, self.test_labels)
        return {"loss": loss, "train_acc": train_acc, "test_acc": test_acc}

    def evaluate(self) -> float:
        return self.metrics()["loss"]

    def arrays(self) -> list[np.ndarray]:
        return [p.copy() for p in self.params]

    def extra_metrics(self) -> dict:
        return {}

    def close(self) -> None:
        pass


# --- PyTorch eager, in a worker process -------------------------------------------------------------------------------

def function_path(fn: Callable) -> str:
    """``module:qualname`` of a module-level function, how the worker finds a task's ``torch_scores``."""
    return f"{fn.__module__}:{fn.__qualname__}"


def _resolve(path: str) -> Callable:
    module, _, name = path.partition(":")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


class TorchLoop:
    """PyTorch eager in the book's style: autograd for the gradient, a manual SGD step under ``no_grad``.

    Runs wherever it is built (the worker builds it; a test may build it in process).  ``scores`` is the
    task's ``torch_scores`` (or its ``module:qualname``), ``output`` its output contract.  The fastest eager
    variant measured on linreg (docs/performance.md), kept for every task: the loss summed in one call
    (``mse_loss`` / 2, ``cross_entropy``, ``binary_cross_entropy_with_logits``), ``sub_`` with ``alpha=lr/b``
    for the update, and gradients dropped (``grad = None``) rather than zeroed.
    """

    def __init__(self, scores: Callable | str, output: str, data: dict, batch_size: int, lr: float, shuffle: bool,
                 seed: int, gather_once_bytes: int = GATHER_ONCE_BYTES):
        import torch
        import torch.nn.functional

        self.torch, self.F = torch, torch.nn.functional
        self.scores = _resolve(scores) if isinstance(scores, str) else scores
        self.output, self.batch_size, self.lr = output, batch_size, float(lr)
        features = _rows(data["features"])
        self.classify = output != REGRESSION
        self.X = torch.from_numpy(features)
        self.y = torch.from_numpy(_targets(output, data["labels"]))
        self.test = None
        if self.classify:
            self.test = (torch.from_numpy(_rows(data["test_features"])),
                         torch.from_numpy(_targets(output, data["test_labels"])))
        self.params = [torch.from_numpy(p.copy()).requires_grad_() for p in data["params"]]
        self.batches = _Batches(len(features), batch_size, shuffle, seed, features.nbytes, gather_once_bytes)

    def _loss_sum(self, X, y, params):
        out = self.scores(params, X)
        if self.output == CLASSES:
            return self.F.cross_entropy(out, y, reduction="sum")
        if self.output == BINARY:
            return self.F.binary_cross_entropy_with_logits(out, y, reduction="sum")
        return self.F.mse_loss(out, y, reduction="sum") / 2  # Σ (ŷ − y)² / 2

    def run_epoch(self, params=None, max_steps: int | None = None) -> None:
        """One epoch (or its first ``max_steps`` batches) on ``params`` (default: the model's)."""
        torch = self.torch
        params = self.params if params is None else params

        def gather(a, rows):
            return torch.index_select(a, 0, torch.from_numpy(rows))

        for i, (X, y) in enumerate(self.batches.epoch(self.X, self.y, gather)):
            if max_steps is not None and i >= max_steps:
                break
            self._loss_sum(X, y, params).backward()
            alpha = self.lr / len(X)
            with torch.no_grad():
                for p in params:
                    p.sub_(p.grad, alpha=alpha)
            for p in params:
                p.grad = None

    def _loss_and_acc(self, X, y) -> tuple[float, float | None]:
        total, right = 0.0, 0
        with self.torch.no_grad():
            for rows in _chunks(len(X)):
                out = self.scores(self.params, X[rows])
                if self.output == CLASSES:
                    total += float(self.F.cross_entropy(out, y[rows], reduction="sum"))
                    right += int((out.argmax(dim=1) == y[rows]).sum())
                elif self.output == BINARY:
                    total += float(self.F.binary_cross_entropy_with_logits(out, y[rows], reduction="sum"))
                    right += int(((out > 0).to(y.dtype) == y[rows]).sum())
                else:
                    total += float(((out - y[rows]) ** 2 / 2).sum())
        return total / len(X), (right / len(X) if self.classify else None)

    def metrics(self) -> dict:
        loss, train_acc = self._loss_and_acc(self.X, self.y)
        if not self.classify:
            return {"loss": loss}
        return {"loss": loss, "train_acc": train_acc, "test_acc": self._loss_and_acc(*self.test)[1]}

    def arrays(self) -> list[np.ndarray]:
        return [p.detach().numpy().copy() for p in self.params]

    def best_threads(self, candidates: list[int], steps: int = 20, repeats: int = 2) -> tuple[int, dict]:
        """The intra-op thread count that runs ``steps`` training steps fastest, on copies of the parameters
        (the trajectory is untouched, and so is the shuffle: a throw-away generator draws the order)."""
        torch = self.torch
        trials = {}
        real = self.batches.rng
        try:
            for n in candidates:
                torch.set_num_threads(n)
                best = float("inf")
                for _ in range(repeats):
                    self.batches.rng = np.random.RandomState(0)
                    scratch = [p.detach().clone().requires_grad_() for p in self.params]
                    start = time.perf_counter()
                    self.run_epoch(scratch, max_steps=steps)
                    best = min(best, time.perf_counter() - start)
                trials[n] = best
        finally:
            self.batches.rng = real
        chosen = min(trials, key=trials.get)
        torch.set_num_threads(chosen)
        return chosen, trials


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _worker_main() -> None:
    """The worker's loop: pickled ``(command, argument)`` on stdin, ``("ok"|"error", value)`` on stdout."""
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the replies
    requests = sys.stdin.buffer
    loop = None
    while True:
        try:
            command, arg = pickle.load(requests)
        except EOFError:
            return
        try:
            if command == "init":
                import torch

                loop = TorchLoop(**arg["loop"])
                fixed = arg["threads"]
                if fixed:
                    torch.set_num_threads(fixed)
                    value = {"torch_threads": fixed, "torch_thread_trials_s": None}
                else:
                    n, trials = loop.best_threads(list(range(1, _usable_cpus() + 1)))
                    value = {"torch_threads": n, "torch_thread_trials_s": trials}
                value["torch_version"] = torch.__version__
                value["mxnet_imported"] = "mxnet" in sys.modules
            elif command == "epoch":
                start = time.perf_counter()
                loop.run_epoch()
                value = time.perf_counter() - start
            elif command == "metrics":
                value = loop.metrics()
            elif command == "arrays":
                value = loop.arrays()
            else:
                raise ValueError(f"unknown command {command!r}")
            reply = ("ok", value)
        except Exception as exc:  # reported to the host, which raises it there
            reply = ("error", f"{type(exc).__name__}: {exc}")
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()


def _end(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Close the worker's input (it exits at EOF); kill it if it does not within ``timeout``."""
    if proc.poll() is None:
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    for pipe in (proc.stdin, proc.stdout):
        try:
            pipe.close()
        except OSError:
            pass


def _threads_from_env() -> int | None:
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise HarnessError(f"{THREADS_ENV} must be a positive integer, got {text!r}")
    return n


class TorchReference:
    """PyTorch eager (:class:`TorchLoop`) in a worker process, driven like a Session.

    ``threads``: the worker's intra-op threads; ``None`` takes ``HARNESS_TORCH_THREADS``,
    else the fastest of 1..(usable CPUs), measured in the worker before training.
    """

    name = "torch"

    def __init__(self, task: Task, settings, threads: int | None = None):
        self.task, self.settings = task, settings
        data = _host_data(task, self.name)
        self.num_examples = len(data["features"])
        threads = threads or _threads_from_env()
        env = {**os.environ,
               "PYTHONPATH": os.pathsep.join(filter(None, [_package_root(), os.environ.get("PYTHONPATH")]))}
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "from harness.tasks.reference import _worker_main; _worker_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self._finalizer = weakref.finalize(self, _end, self._proc)
        self.worker_seconds: list[float] = []  # each epoch as the worker timed it
        try:
            loop = {"scores": function_path(task.reference_loops.torch_scores), "output": task.output, "data": data,
                    "batch_size": settings.batch_size, "lr": settings.lr,
                    "shuffle": settings.shuffle, "seed": task.seed, "gather_once_bytes": GATHER_ONCE_BYTES}
            self.info = self._call("init", {"loop": loop, "threads": threads})
        except BaseException:
            self.close()
            raise

    def _call(self, command: str, arg=None):
        try:
            pickle.dump((command, arg), self._proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._proc.stdin.flush()
            status, value = pickle.load(self._proc.stdout)
        except (EOFError, BrokenPipeError, OSError):
            code = self._proc.poll()
            raise RuntimeError(f"the PyTorch worker process ended (exit code {code}) during {command!r}; "
                               "its stderr is above") from None
        if status != "ok":
            raise RuntimeError(f"PyTorch worker: {value}")
        return value

    @property
    def steps_per_epoch(self) -> int:
        return _steps(self.num_examples, self.settings.batch_size)

    def run_epoch(self) -> None:
        self.worker_seconds.append(self._call("epoch"))

    def metrics(self) -> dict:
        return self._call("metrics")

    def evaluate(self) -> float:
        return self.metrics()["loss"]

    def arrays(self) -> list[np.ndarray]:
        return self._call("arrays")

    def extra_metrics(self) -> dict:
        """The worker's threads (and the trial times that chose them) and its own epoch times."""
        return {**self.info, "worker_epoch_seconds": list(self.worker_seconds)}

    def close(self) -> None:
        """End the worker process (also done when the reference is garbage-collected or at exit)."""
        self._finalizer()


def _package_root() -> str:
    """The directory holding the ``harness`` package, so the worker imports this very copy."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class ReferenceInfo:
    """One reference; ``factory(task, settings)`` builds it when ``skip_reason`` is None."""

    name: str
    factory: Callable
    skip_reason: str | None = None

    @property
    def available(self) -> bool:
        return self.skip_reason is None


def _import_error(module: str) -> str | None:
    try:
        importlib.import_module(module)
    except Exception as exc:  # not installed, or installed but broken
        return f"{module} is not importable ({type(exc).__name__}: {exc})"
    return None


# by name, so a reference can be built without first probing whether torch imports
FACTORIES: dict[str, Callable] = {NumpyReference.name: NumpyReference, TorchReference.name: TorchReference}


def references(task: Task | None = None) -> list[ReferenceInfo]:
    """Every reference, each with the reason it cannot run here (None when it can); with ``task``, a
    reference whose loop the task does not declare says so as its reason."""
    torch_missing = _import_error("torch")
    if torch_missing:
        torch_missing += "; install it with: pip install 'mxnet-harness[torch]'"
    infos = []
    for name, factory in FACTORIES.items():
        reason = missing_loops(name, task) if task is not None else None
        infos.append(ReferenceInfo(name, factory, reason or (torch_missing if name == TorchReference.name else None)))
    return infos
