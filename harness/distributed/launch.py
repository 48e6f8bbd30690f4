"""Launch and supervise one data-parallel job: scheduler, servers and workers of MXNet's parameter server.

MXNet's own launcher (``tools/launch.py`` → ``dmlc_tracker``) does not run on Python ≥ 3.9 and
never ends the other processes when one fails, and ps-lite waits without timeouts.  So the harness
starts every process itself, each in its own process group (``start_new_session``) and set to die
with the launcher (``PR_SET_PDEATHSIG``), and watches them: a process that exits non-zero or is
killed, a worker that never joins or stops reporting progress for ``timeout`` seconds, a job past
its ``deadline`` — any of these ends every process group of the job, and :func:`launch` returns a
failed :class:`JobResult` naming the role and rank, with whatever epochs had finished.  Ctrl-C does
the same and returns an ``interrupted`` result.  A scheduler that cannot bind its port is retried
on a fresh one.
"""
from __future__ import annotations

import collections
import contextlib
import json
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from harness.core.errors import HarnessError
from harness.distributed.worker import PREFIX

LOOPBACK = "127.0.0.1"
#: After a fault: seconds between SIGTERM and SIGKILL to the process groups.
TERM_GRACE = 1.0
#: After the last worker finished: seconds the scheduler and servers get to shut down by themselves.
SHUTDOWN_GRACE = 15.0
#: Fresh ports tried when the scheduler cannot bind.
PORT_ATTEMPTS = 4

# The scheduler and servers serve inside ``import mxnet``; die_with_parent first, so they never outlive us.
SERVE = "from harness.distributed.worker import die_with_parent; die_with_parent(); import mxnet"


@dataclass
class Job:
    """What to run and how to watch it.  ``spec`` is what every worker trains
    (see :mod:`harness.distributed.worker`)."""

    spec: dict
    workers: int
    servers: int = 1
    host: str = LOOPBACK
    port: int | None = None
    timeout: float = 30.0
    deadline: float | None = None
    hosts: list[str] = field(default_factory=list)  # servers and workers round-robin over these (ssh)
    python: str = sys.executable
    check_port: bool = True  # tests turn it off to make the scheduler meet a busy port

    def check(self) -> None:
        if self.workers < 1:
            raise HarnessError(f"--workers must be a positive integer, got {self.workers}")
        if self.servers < 1:
            raise HarnessError(f"--servers must be a positive integer, got {self.servers}")
        if not self.timeout > 0:
            raise HarnessError(f"--timeout must be a positive number of seconds, got {self.timeout}")
        if self.deadline is not None and not self.deadline > 0:
            raise HarnessError(f"--deadline must be a positive number of seconds, got {self.deadline}")
        if self.port is not None and not 0 < self.port < 65536:
            raise HarnessError(f"--port must be between 1 and 65535, got {self.port}")


def check_host(host: str) -> None:
    """The scheduler runs on this machine and binds ``host``: an unresolvable name or an address of
    another machine is a one-line error before any process starts."""
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise HarnessError(f"--host {host!r} cannot be resolved ({getattr(exc, 'strerror', None) or exc}); "
                           "give an address of this machine, e.g. 127.0.0.1") from None
    address = infos[0][4][0]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, 0))
        except OSError as exc:
            shown = host if address == host else f"{host} ({address})"
            raise HarnessError(f"--host {shown} is not an address of this machine ({exc.strerror}); "
                               "the scheduler runs here and binds it: give one of this machine's addresses, "
                               "e.g. 127.0.0.1") from None


@dataclass
class Proc:
    """One process of the job, as the supervisor sees it."""

    role: str
    index: int  # launch order within its role; a worker's rank comes from the kvstore
    popen: subprocess.Popen
    host: str
    rank: int | None = None
    stderr_tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=30))
    last_seen: float = 0.0
    stdout_closed: bool = False
    returncode: int | None = None
    epochs: list = field(default_factory=list)
    result: dict | None = None
    cleaned: bool = False

    @property
    def name(self) -> str:
        if self.role == "worker":
            who = f"worker rank {self.rank}" if self.rank is not None else f"worker #{self.index} (not joined yet)"
        else:
            who = f"{self.role} #{self.index}" if self.role == "server" else "scheduler"
        where = "" if self.host == LOOPBACK else f" on {self.host}"
        return f"{who} (pid {self.popen.pid}{where})"

    def last_error(self) -> str:
        """The most telling stderr line: a Python exception or an MXNet check, else the last one."""
        lines = [line for line in self.stderr_tail if line.strip()]
        for line in reversed(lines):
            if "Error" in line or "Check failed" in line or "bind failed" in line:
                return line.strip()
        return lines[-1].strip() if lines else ""


@dataclass
class JobResult:
    """``status``: ``ok``, ``failed`` or ``interrupted``; ``workers`` by rank; ``timings`` in seconds."""

    status: str
    error: str = ""
    failed_role: str = ""
    port: int | None = None
    ports_tried: list = field(default_factory=list)
    workers: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    def epochs_by_rank(self) -> dict[int, list[dict]]:
        return {rank: w["epochs"] for rank, w in sorted(self.workers.items())}


class _BindFailed(Exception):
    """The scheduler could not bind its port: retry on a fresh one."""


class _Fault(Exception):
    def __init__(self, message: str, proc: Proc | None = None):
        super().__init__(message)
        self.proc = proc


# --- ports --------------------------------------------------------------------------

def port_is_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now (no SO_REUSEADDR: what the scheduler will meet)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str) -> int:
    """A port the kernel considers free on ``host``, checked once more by binding it."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port_is_free(host, port):
            return port
    raise HarnessError(f"found no free port on {host}")


# --- processes ------------------------------------------------------------------------

def dmlc_env(job: Job, role: str, port: int, node_host: str) -> dict:
    """The ``DMLC_*`` variables a node of this job needs."""
    env = {
        "DMLC_ROLE": role,
        "DMLC_PS_ROOT_URI": job.host,
        "DMLC_PS_ROOT_PORT": str(port),
        "DMLC_NUM_SERVER": str(job.servers),
        "DMLC_NUM_WORKER": str(job.workers),
        "DMLC_NODE_HOST": node_host,  # bind here, nowhere else
    }
    if node_host == LOOPBACK:
        env["DMLC_INTERFACE"] = "lo"  # ps-lite's own interface pick skips loopback
    return env


def _is_local(host: str) -> bool:
    return host in (LOOPBACK, "localhost")


def _command(job: Job, role: str) -> list[str]:
    if role == "worker":
        return [job.python, "-m", "harness.distributed.worker", "-"]
    return [job.python, "-c", SERVE]


def _start(job: Job, role: str, index: int, port: int, host: str, spec_text: str) -> Proc:
    env_vars = dmlc_env(job, role, port, LOOPBACK if _is_local(host) else host)
    cmd = _command(job, role)
    if _is_local(host):
        argv, env = cmd, {**os.environ, **env_vars}
    else:  # -tt: the remote processes get SIGHUP when we end ssh
        remote = "cd {} && exec env {} {}".format(
            shlex.quote(os.getcwd()), " ".join(f"{k}={shlex.quote(v)}" for k, v in env_vars.items()),
            " ".join(shlex.quote(c) for c in cmd))
        argv, env = ["ssh", "-tt", "-o", "BatchMode=yes", host, remote], dict(os.environ)
    popen = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True, text=True, bufsize=1)
    try:
        popen.stdin.write(spec_text + "\n" if role == "worker" else "")
        popen.stdin.close()
    except OSError:  # it died already; the supervisor reports how
        pass
    return Proc(role, index, popen, host, last_seen=time.monotonic())


def _read(proc: Proc, stream, kind: str, events: queue.Queue) -> None:
    for line in stream:
        events.put((proc, kind, line.rstrip("\r\n")))
    events.put((proc, kind + "-eof", None))


def _kill_all(procs: list[Proc]) -> None:
    """SIGTERM every process group, SIGKILL what is left after :data:`TERM_GRACE`, reap them all."""
    procs = [p for p in procs if not p.cleaned]  # never signal a group id that may have been reused since
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in procs:
            if p.popen.poll() is None or sig == signal.SIGKILL:
                try:
                    os.killpg(p.popen.pid, sig)  # the whole group: whatever the node started too
                except (ProcessLookupError, PermissionError):
                    pass
        if sig == signal.SIGTERM:
            end = time.monotonic() + TERM_GRACE
            while time.monotonic() < end and any(p.popen.poll() is None for p in procs):
                time.sleep(0.02)
    for p in procs:
        try:
            p.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        p.cleaned = True


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


# --- supervision ---------------------------------------------------------------------------

def launch(job: Job, on_event=None, ports=None) -> JobResult:
    """Run ``job`` to the end, a fault, or Ctrl-C; never leaves a process behind.

    ``on_event(proc, event)`` sees every report of a worker (``joined``, ``progress``, ``epoch``,
    ``result``) as it arrives.  ``ports``: candidate scheduler ports tried first (tests).
    """
    job.check()
    check_host(job.host)
    with _sigterm_as_interrupt():
        return _launch(job, on_event, ports)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM to the launcher ends the job like Ctrl-C (only the main thread can install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        if callable(previous):  # the CLI's own handler: it remembers which signal it was
            previous(signum, frame)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _launch(job: Job, on_event, ports) -> JobResult:
    candidates = list(ports or ([job.port] if job.port else []))
    tried: list[int] = []
    started = time.monotonic()
    for _attempt in range(PORT_ATTEMPTS):
        if candidates:
            port = candidates.pop(0)
            if job.check_port and not port_is_free(job.host, port):
                if job.port:
                    raise HarnessError(f"--port {port} on {job.host} is busy; choose another or leave --port out")
                tried.append(port)
                continue
        else:
            port = free_port(job.host)
        tried.append(port)
        try:
            result = _run(job, port, on_event)
        except _BindFailed:
            if job.port:
                return JobResult("failed", f"the scheduler could not bind {job.host}:{job.port} (busy)", "scheduler",
                                 port, tried)
            continue
        result.ports_tried = tried
        result.timings["total_s"] = time.monotonic() - started
        return result
    return JobResult("failed", f"the scheduler could not bind any of ports {tried} on {job.host}", "scheduler",
                     None, tried)


def _run(job: Job, port: int, on_event) -> JobResult:
    spec_text = json.dumps(job.spec)
    hosts = job.hosts or [LOOPBACK]
    procs: list[Proc] = []
    events: queue.Queue = queue.Queue()
    t0 = time.monotonic()
    timings: dict = {}
    try:
        procs.append(_start(job, "scheduler", 0, port, job.host if not _is_local(job.host) else LOOPBACK, spec_text))
        for i in range(job.servers):
            procs.append(_start(job, "server", i, port, hosts[i % len(hosts)], spec_text))
        for i in range(job.workers):
            procs.append(_start(job, "worker", i, port, hosts[(job.servers + i) % len(hosts)], spec_text))
        for p in procs:
            for stream, kind in ((p.popen.stdout, "out"), (p.popen.stderr, "err")):
                threading.Thread(target=_read, args=(p, stream, kind, events), daemon=True).start()
        _supervise(job, procs, events, on_event, timings, t0)
        status, error, role = "ok", "", ""
    except _Fault as fault:
        timings["fault_s"] = time.monotonic() - t0
        status, error = "failed", str(fault)
        role = fault.proc.role if fault.proc else ""
        if fault.proc is not None and fault.proc.role == "scheduler" and "bind failed" in fault.proc.last_error():
            _kill_all(procs)
            raise _BindFailed() from None
    except KeyboardInterrupt:
        timings["fault_s"] = time.monotonic() - t0
        status, error, role = "interrupted", "interrupted (Ctrl-C or SIGTERM)", ""
    finally:
        cleanup = time.monotonic()
        _kill_all(procs)
        timings["cleanup_s"] = time.monotonic() - cleanup
    workers = {p.rank: {"epochs": p.epochs, "result": p.result}
               for p in procs if p.role == "worker" and p.rank is not None}
    return JobResult(status, error, role, port, [], workers, timings)


def _supervise(job: Job, procs: list[Proc], events: queue.Queue, on_event, timings: dict, t0: float) -> None:
    workers = [p for p in procs if p.role == "worker"]
    others = [p for p in procs if p.role != "worker"]
    finished: set[int] = set()
    while True:
        try:
            proc, kind, line = events.get(timeout=0.1)
            _handle(proc, kind, line, on_event, timings, t0)
        except queue.Empty:
            pass
        now = time.monotonic()
        for p in procs:
            if p.returncode is None:
                p.returncode = p.popen.poll()
            if p.returncode is None or id(p) in finished:
                continue
            if p.role == "worker" and not p.stdout_closed:
                continue  # read its last lines first
            if p.returncode != 0:
                detail = p.last_error()
                raise _Fault(f"{p.name} {_exit_text(p.returncode)}" + (f": {detail}" if detail else ""), p)
            if p.role != "worker" and any(w.result is None for w in workers):
                raise _Fault(f"{p.name} exited before the workers finished", p)
            if p.role == "worker" and p.result is None:
                raise _Fault(f"{p.name} exited without reporting a result", p)
            finished.add(id(p))
        if all(id(w) in finished for w in workers):
            timings.setdefault("workers_done_s", now - t0)
            if all(id(p) in finished for p in others) or now - t0 - timings["workers_done_s"] > SHUTDOWN_GRACE:
                return  # anything still running is ended by the caller
            continue
        silent = [w for w in workers if id(w) not in finished and now - w.last_seen > job.timeout]
        if silent:
            first = min(silent, key=lambda w: w.last_seen)
            what = "made no progress" if first.rank is not None else "never joined the kvstore"
            raise _Fault(f"{first.name} {what} for {job.timeout:g} s (--timeout)", first)
        if job.deadline is not None and now - t0 > job.deadline:
            raise _Fault(f"the job ran past its deadline of {job.deadline:g} s (--deadline)")


def _handle(proc: Proc, kind: str, line: str | None, on_event, timings: dict, t0: float) -> None:
    if kind == "out-eof":
        proc.stdout_closed = True
        return
    if kind == "err-eof":
        return
    if kind == "err":
        proc.stderr_tail.append(line)
        if os.environ.get("HARNESS_DIST_ECHO"):
            print(f"[{proc.role} {proc.index}] {line}", file=sys.stderr)
        return
    if not line.startswith(PREFIX):
        print(f"[{proc.role} {proc.rank if proc.rank is not None else proc.index}] {line}", file=sys.stderr)
        return
    event = json.loads(line[len(PREFIX):])
    proc.last_seen = time.monotonic()
    kind = event["event"]
    if kind == "joined":
        proc.rank = event["rank"]
        timings["joined_s"] = max(timings.get("joined_s", 0.0), proc.last_seen - t0)
    elif kind == "epoch":
        proc.epochs.append(event)
    elif kind == "result":
        proc.result = event
    elif kind == "error":
        verb = "" if event["error"].startswith("diverged") else " raised"
        raise _Fault(f"{proc.name}{verb} {event['error']}", proc)
    if on_event is not None:
        on_event(proc, event)
