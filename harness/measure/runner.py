"""The runner side of the runner/worker split (pyperf's shape): cases are measured in fresh worker
processes (:mod:`harness.measure.worker`), each with a timeout, and their rounds are pooled into one row.

Cases run one at a time, slot by slot (process 1 of every case, then process 2 of every case, …), so
load that drifts during the run lands on every row alike.  ``bench --processes`` gives every case and
slot a process of its own (isolation); ``ab`` keeps one worker per side and slot for every case (start-up
once per slot, so it can afford many slots: the pairs its test counts).  With two environments a case's
A and B workers warm up together and then take their timed rounds alternately, A B B A …, one process
active at a time: drift on the scale of a round hits both sides alike.  A worker that crashes, hangs past
its timeout or cannot start becomes a failed row, never a crash here.
"""
from __future__ import annotations

import json
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from harness.analysis import stats
from harness.core.errors import HarnessError
from harness.measure import measuring, planning
from harness.measure.worker import MARK, case_to_dict

TIMEOUT = 600.0  # seconds per worker process


@dataclass(frozen=True)
class Environment:
    """Where workers run: an interpreter and environment variables set on top of ours."""

    name: str = ""
    python: str = sys.executable
    env: dict = field(default_factory=dict)

    def describe(self) -> str:
        settings = " ".join(f"{k}={v}" if v is not None else f"{k} unset" for k, v in sorted(self.env.items()))
        return f"{self.python}" + (f" with {settings}" if settings else "")

    def check(self) -> None:
        """Fail before any run when the interpreter cannot import MXNet and ``harness`` (not installed there)."""
        try:
            done = subprocess.run([self.python, "-c", "import mxnet, harness.measure.worker"], capture_output=True,
                                  text=True, env=self.environ(), timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise HarnessError(f"{self._side}cannot run {self.python}: {reason}") from None
        if done.returncode != 0:
            lines = [line.strip() for line in done.stderr.strip().splitlines() if line.strip()] or ["no output"]
            last = ([line for line in lines if "Error" in line] or lines)[-1]  # the cause, not a trailing frame
            if self.env:
                flag = f"--{self.name.lower()}-env" if self.name else "the environment"
                given = ", ".join(f"{k}={v}" for k, v in sorted(self.env.items()))
                raise HarnessError(f"{self._side}{self.python} with {given} cannot run the harness worker ({last}); "
                                   f"check {flag}, or install mxnet-harness in that environment")
            raise HarnessError(f"{self._side}{self.python} cannot run the harness worker ({last}); install "
                               "mxnet-harness in that environment")

    @property
    def _side(self) -> str:
        return f"side {self.name}: " if self.name else ""

    def environ(self) -> dict:
        # a None value removes the variable (``--threads mxnet`` unsets OMP_NUM_THREADS)
        return {k: v for k, v in {**os.environ, **self.env}.items() if v is not None}


def parse_env(items: list[str] | None, option: str) -> dict:
    """``["K=V", ...]`` -> ``{K: V}``; anything else is a one-line error."""
    env = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not key.replace("_", "a").isalnum():
            raise HarnessError(f"{option} {item!r}: expected NAME=VALUE, e.g. {option} MXNET_ENGINE_TYPE=NaiveEngine")
        env[key] = value
    return env


def split_rounds(rounds: int, processes: int) -> list[int]:
    """``rounds`` spread over ``processes`` as evenly as possible, each at least one."""
    if processes < 1:
        raise HarnessError(f"--processes must be a positive integer, got {processes}")
    if rounds < processes:
        raise HarnessError(
            f"--rounds {rounds} cannot be spread over --processes {processes}: each process needs a round"
        )
    return [rounds // processes + (k < rounds % processes) for k in range(processes)]


class Worker:
    """One live worker process (:mod:`harness.measure.worker`), answering round by round; it measures the case of
    ``job`` and, after :meth:`finish` with ``keep=True``, any further job given to :meth:`start`."""

    def __init__(self, job: dict | None, where: Environment, timeout: float = TIMEOUT):
        self.timeout = timeout
        self.result: dict | None = None  # the final answer of the current job, once there is one
        self.dead = False  # the process ended: no further job
        self._buffer = b""
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([where.python, "-m", "harness.measure.worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr, env=where.environ(),
                                     start_new_session=True, bufsize=0)
        if job is not None:
            self.start(job)

    def start(self, job: dict) -> None:
        """Hand the worker a job (a case to warm up and measure)."""
        self.result = None
        self._send(job)

    def ready(self) -> bool:
        """Wait for the warm-up to finish; ``False`` when the worker already ended (see :attr:`result`)."""
        return self._receive("ready")

    def round(self) -> bool:
        """One timed round; ``False`` when the worker ended instead (see :attr:`result`)."""
        return self.result is None and self._send({"cmd": "round"}) and self._receive("round")

    def finish(self, keep: bool = False) -> dict:
        """Ask for the metrics; the final result either way.  The process then exits, or with ``keep`` waits
        for another job (unless it died)."""
        if self.result is None and self._send({"cmd": "finish"}):
            self._receive("done")
        if not keep:
            self.close()
        return self.result

    def close(self) -> None:
        try:
            self.proc.stdin.close()  # end of input: a waiting worker exits
        except OSError:
            pass
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=5 if self.result is not None else 0)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            _kill(self.proc)
        self.proc.stdout.close()
        self._stderr.close()
        self.dead = True

    def _send(self, message: dict) -> bool:
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            return True
        except (BrokenPipeError, OSError):
            self._died()
            return False

    def _receive(self, event: str) -> bool:
        deadline = time.monotonic() + self.timeout
        while True:
            line = self._line(deadline)
            if line is None:
                return False
            message = json.loads(line)
            if message.get("event") == "done":
                self.result = {k: message[k] for k in ("status", "error", "metrics")}
                return event == "done"
            if message.get("event") == event:
                return True

    def _line(self, deadline: float) -> str | None:
        """The next protocol line, or ``None`` once the worker died or timed out (:attr:`result` says which)."""
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\n", 1)
                text = raw.decode(errors="replace")
                if text.startswith(MARK):
                    return text[len(MARK):]
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                _kill(self.proc)
                self.dead = True
                self.result = {"status": "failed", "error": f"worker timed out after {self.timeout:g} s", "metrics": {}}
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                self._died()
                return None
            self._buffer += chunk

    def _died(self) -> None:
        self.dead = True
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _kill(self.proc)
            code = self.proc.returncode
        how = f"worker killed by {signal.Signals(-code).name}" if code < 0 else f"worker exited with code {code}"
        self._stderr.seek(0)
        last = (self._stderr.read().decode(errors="replace").strip().splitlines() or [""])[-1][-300:]
        self.result = {"status": "failed", "error": how + (f": {last}" if last else ""), "metrics": {}}


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def measure(job: dict, sides: list[Environment], rounds: int, timeout: float = TIMEOUT,
            kept: list[Worker | None] | None = None, b_first: bool = False) -> list[dict]:
    """One case in one worker per side, started together; after their warm-ups, ``rounds`` timed rounds
    alternated A B B A A B … (B A A B … with ``b_first``); the final result of each side.

    Fresh workers that exit afterwards, or with ``kept`` (one slot per side, updated in place) the workers
    of the previous case, kept for the next one; a dead one is replaced by a fresh worker."""
    workers = []
    try:
        for s, where in enumerate(sides):
            if kept is None:
                workers.append(Worker(job, where, timeout))
                continue
            if kept[s] is None or kept[s].dead:
                if kept[s] is not None:
                    kept[s].close()
                kept[s] = Worker(None, where, timeout)
            kept[s].start(job)
            workers.append(kept[s])
        live = [w for w in workers if w.ready()]
        if b_first:
            live.reverse()
        for j in range(rounds):
            for w in (live if j % 2 == 0 else live[::-1]):
                w.round()
            live = [w for w in live if w.result is None]
        return [w.finish(keep=kept is not None) for w in workers]
    except BaseException:  # Ctrl-C: the workers are in their own sessions, so end them here
        for w in workers:
            if w.proc.poll() is None:
                _kill(w.proc)
        raise


def run(planned: list[tuple[planning.Case, str | None]], processes: int, sides: list[Environment],
        plugin_specs: list[str], strict: bool = False, timeout: float = TIMEOUT, on_row=None, on_job=None,
        per_case: bool = True) -> list[list[measuring.Row]]:
    """Every case of ``planned`` in ``processes`` fresh workers per side, slot by slot (process 1 of every case,
    then process 2 …); one list of rows per side, in ``planned`` order.

    ``per_case``: a fresh process for every case and slot (isolation: peak memory, caches, crashes).  Else one
    worker per side and slot measures every case in turn (start-up paid once per slot, which buys many more
    processes for A/B), and odd slots let B go first so neither side always leads.

    ``on_row(side, row)`` when a case has all its processes; ``on_job()`` after every case's slot.  On Ctrl-C
    the cases with at least one finished slot become rows (``on_row`` is called for them), then it propagates.
    """
    measured = [i for i, (_, skip) in enumerate(planned) if not skip]
    per_process = {i: split_rounds(planned[i][0].workload.rounds, processes) for i in measured}
    results: dict[tuple[int, int], list[dict]] = {}
    rows: list[dict[int, measuring.Row]] = [{} for _ in sides]
    for s in range(len(sides)):
        for i, (case, skip) in enumerate(planned):
            if skip:
                rows[s][i] = measuring.Row(case, "skipped", skip)
                if on_row is not None:
                    on_row(s, rows[s][i])

    def finish(s, i):
        rows[s][i] = pool(planned[i][0], results[(s, i)])
        if on_row is not None:
            on_row(s, rows[s][i])

    try:
        for slot in range(processes):
            kept = None if per_case else [None] * len(sides)
            try:
                for i in measured:
                    job = {"case": case_to_dict(planned[i][0]), "plugin_specs": list(plugin_specs), "strict": strict}
                    b_first = not per_case and slot % 2 == 1
                    done = measure(job, sides, per_process[i][slot], timeout, kept, b_first=b_first)
                    for s, result in enumerate(done):
                        results.setdefault((s, i), []).append(result)
                    if on_job is not None:
                        on_job()
                    if slot == processes - 1:
                        for s in range(len(sides)):
                            finish(s, i)
            finally:
                for w in kept or []:
                    if w is not None:
                        w.close()
    except KeyboardInterrupt:
        for (s, i) in results:
            if i not in rows[s]:
                finish(s, i)
        raise
    return [[r[i] for i in sorted(r)] for r in rows]


def pool(case: planning.Case, results: list[dict]) -> measuring.Row:
    """One row from a case's worker results: all timed rounds pooled; any failed process fails the row."""
    for k, result in enumerate(results):
        if result["status"] != "ok":
            where = f"process {k + 1} of {len(results)}: " if len(results) > 1 else ""
            return measuring.Row(case, "failed", where + result["error"], metrics=result.get("metrics") or {})
    warmup = case.workload.warmup
    per_process = [r["metrics"]["epoch_seconds"][warmup:] for r in results]
    seconds = [s for p in per_process for s in p]
    st = measuring.stats_of(seconds)
    metrics = dict(results[0]["metrics"])  # the first process's trace: losses, time to target, parameters
    metrics.update(
        epoch_min_s=st.min, epoch_median_s=st.median, epoch_iqr_s=st.iqr, rounds=st.rounds,
        # the worker's metrics know the task's size and batch (a workload may leave them to the task)
        us_per_step=st.median / metrics["steps_per_epoch"] * 1e6,
        samples_per_s=metrics.get("num_examples", case.workload.num_examples) / st.median,
        peak_rss_mib=max(r["metrics"]["peak_rss_mib"] for r in results),
        processes=len(results), process_seconds=per_process,
        process_cpu_seconds=[r["metrics"].get("epoch_cpu_seconds", [])[warmup:] for r in results],
        **stats.summary(seconds, [float(statistics.median(p)) for p in per_process]),
    )
    return measuring.Row(case, "ok", stats=st, metrics=metrics)
