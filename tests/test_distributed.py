"""Data-parallel jobs on MXNet's parameter server, on loopback: the maths, and no hang, no orphan.

Every job here is bounded (``deadline`` / subprocess timeouts) and checked to leave no process
behind: each test's processes carry a unique ``HARNESS_TEST_JOB`` in their environment.
"""
import os
import signal
import socket
import subprocess
import time
import uuid

import mxnet as mx
import numpy as np
import pytest

from harness.core.train import Session, Settings, train
from harness.distributed.launch import Job, launch
from harness.distributed.sharding import shard_indices, steps_per_epoch
from harness.roles import Combination
from harness.tasks.builtin import LinReg as Task
from tests.conftest import HARNESS, ROOT, run_cli
from tests.helpers import interruptible


def job_processes(tag: str) -> list[int]:
    """Pids whose environment carries ``HARNESS_TEST_JOB=tag`` (the harness's and its nodes')."""
    needle = f"HARNESS_TEST_JOB={tag}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    if needle in fh.read().split(b"\0"):
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


@pytest.fixture
def tag(monkeypatch):
    """A job tag in this process's environment, which every node inherits; checks nothing is left after."""
    value = uuid.uuid4().hex
    monkeypatch.setenv("HARNESS_TEST_JOB", value)
    yield value
    left = [p for p in job_processes(value) if p != os.getpid()]
    for pid in left:  # never leave them, even when the assertion below fails
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"processes of the job left behind: {left}"


def test_shards_make_the_global_batch():
    n, b, workers = 103, 5, 3
    shards = [shard_indices(n, b, r, workers) for r in range(workers)]
    steps = steps_per_epoch(n, b, workers)
    assert steps == 6 and all(len(s) == steps * b for s in shards)
    for k in range(steps):  # step k of all ranks together = global batch k of one process on batch 15
        together = np.concatenate([s[k * b:(k + 1) * b] for s in shards])
        assert together.tolist() == list(range(k * 15, (k + 1) * 15))


def one_process(combo: Combination, task: Task, batch: int, epochs: int) -> np.ndarray:
    from harness.core.loader import load

    settings = Settings(epochs, batch, 0.03, shuffle=False)
    session = Session(load(only=["scratch", "gluon"]), combo, task, settings, mx.cpu())
    params = train(session).params
    return np.append(params["w"], params["b"])


@pytest.mark.parametrize("combo, placement", [
    (Combination(), "harness"),
    (Combination(model="gluon", optimizer="gluon"), "harness"),
    (Combination(model="gluon", optimizer="gluon"), "kvstore"),
    (Combination(model="gluon", optimizer="gluon"), "servers"),
], ids=["scratch-sgd", "trainer", "trainer-own-kvstore", "trainer-on-servers"])
def test_dist_sync_two_workers_equal_one_process_on_the_global_batch(tag, combo, placement):
    task, batch, epochs = Task(num_examples=200, num_inputs=3), 10, 2
    spec = {"combination": combo.as_dict(), "task": task.as_dict(),
            "settings": Settings(epochs, batch, 0.03, shuffle=False).as_dict(),
            "kvstore": "dist_sync", "placement": placement, "plugins": [], "blocked": []}
    result = launch(Job(spec, workers=2, timeout=60, deadline=120))
    assert result.status == "ok", result.error
    expected = one_process(combo, task, batch * 2, epochs)
    assert sorted(result.workers) == [0, 1]
    for _rank, worker in result.workers.items():
        got = np.append(worker["result"]["params"]["w"], worker["result"]["params"]["b"])
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
        assert worker["result"]["placement"] == placement
        assert [e["steps"] for e in worker["epochs"]] == [10, 10]


def start(tag, *args):
    """``harness ARGS`` in the background, in its own process group, output as text lines."""
    return subprocess.Popen([HARNESS, *args], cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=interruptible)


def wait_for_epoch(proc) -> None:
    for line in proc.stdout:
        if line.startswith("epoch "):
            return
    raise AssertionError(f"no epoch line; stderr: {proc.stderr.read()}")


def worker_pids(tag: str) -> list[int]:
    pids = []
    for pid in job_processes(tag):
        with open(f"/proc/{pid}/environ", "rb") as fh:
            if b"DMLC_ROLE=worker" in fh.read().split(b"\0"):
                pids.append(pid)
    return pids


LONG_RUN = ["run", "--workers", "2", "--epochs", "100000", "--timeout", "20", "--deadline", "120"]


def test_killing_a_worker_ends_the_whole_job(tag):
    proc = start(tag, *LONG_RUN)
    try:
        wait_for_epoch(proc)
        victim = worker_pids(tag)[0]
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1, err
    assert "was killed by SIGKILL" in err and "worker rank" in err and "Traceback" not in err
    assert took < 15, f"the job took {took:.1f} s to end after the kill"
    print(f"kill → harness exit: {took:.2f} s")


def test_a_worker_that_raises_is_named_and_the_job_ends(tag, tmp_path):
    result = run_cli("-p", "tests.plugins.dist_faults", "run", "--workers", "2", "--optimizer", "raise_once",
                     "--epochs", "3", "--timeout", "20", "--deadline", "120",
                     env={"HARNESS_TEST_FAULT_FLAG": str(tmp_path / "flag")}, timeout=120)
    assert result.returncode == 1
    assert "worker rank" in result.stderr and "RuntimeError: raise_once" in result.stderr, result.stderr


def test_a_stalled_worker_trips_the_progress_timeout(tag, tmp_path):
    begin = time.monotonic()
    result = run_cli("-p", "tests.plugins.dist_faults", "run", "--workers", "2", "--optimizer", "stall_once",
                     "--epochs", "3", "--timeout", "10", "--deadline", "120",
                     env={"HARNESS_TEST_FAULT_FLAG": str(tmp_path / "flag")}, timeout=120)
    # 10 s: four processes importing MXNet (and the built-in tasks) on 2 cores need more than 4 s to join; the
    # worker stalls for an hour, so any timeout that lets them join shows the progress check
    assert result.returncode == 1
    assert "made no progress for 10 s" in result.stderr, result.stderr
    assert time.monotonic() - begin < 60


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_ends_everything_with_128_plus_its_number(tag, sig):
    proc = start(tag, *LONG_RUN)
    try:
        wait_for_epoch(proc)
        os.kill(proc.pid, sig)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=60)
        print(f"{signal.Signals(sig).name} → harness exit: {time.monotonic() - sent:.2f} s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + sig, err  # 130 for Ctrl-C, 143 for SIGTERM
    assert "interrupted" in err


def test_a_busy_port_named_by_the_user_is_a_one_line_error(tag):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = run_cli("run", "--workers", "2", "--port", str(port), timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"harness: error: --port {port} on 127.0.0.1 is busy; choose another or leave --port out"
    )


def test_a_scheduler_that_meets_a_busy_port_is_retried_on_a_fresh_one(tag):
    spec = {"combination": Combination().as_dict(), "task": Task(num_examples=100).as_dict(),
            "settings": Settings(1, 10).as_dict(), "kvstore": "dist_sync", "placement": "harness"}
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        busy = held.getsockname()[1]
        job = Job(spec, workers=2, timeout=30, deadline=120, check_port=False)  # the scheduler itself meets it
        result = launch(job, ports=[busy])
    assert result.status == "ok", result.error
    assert result.ports_tried[0] == busy and result.port != busy


@pytest.mark.parametrize("args, message", [
    (["--workers", "0"], "harness: error: --workers must be a positive integer, got 0"),
    (["--workers", "2", "--kvstore", "dist"],
     "harness: error: unknown --kvstore 'dist'; valid: dist_sync, dist_async, dist_device_sync"),
    (["--workers", "2", "--placement", "servers"], "harness: error: optimizer 'scratch' does not take a kvstore"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = run_cli("run", *args, timeout=60)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith(message), result.stderr


def test_bench_workers_prints_the_scaling_table(tag, tmp_path):
    out = tmp_path / "scaling.json"
    result = run_cli("bench", "--workers", "1,2", "--data", "scratch", "--model", "scratch", "--loss", "scratch",
                     "--optimizer", "scratch", "--num-examples", "200", "--rounds", "2", "--warmup", "1",
                     "--repeat", "2", "--timeout", "30", "--deadline", "120", "-q", "--json", str(out),
                     "--csv", str(tmp_path / "s.csv"),
                     timeout=240)
    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[0]
    for column in ("workers", "samples/s (global)", "µs/step/worker", "exchange share", "efficiency"):
        assert column in header
    import json

    doc = json.loads(out.read_text())
    by_workers = {b["extra_info"]["workers"]: b["extra_info"] for b in doc["benchmarks"]}
    assert sorted(by_workers) == [1, 2]
    assert by_workers[1]["scaling_efficiency"] == 1.0
    two = by_workers[2]
    assert two["scaling_efficiency"] == pytest.approx(two["samples_per_s"] / (2 * by_workers[1]["samples_per_s"]))
    assert two["steps_per_epoch"] == 10 and two["global_batch"] == 20 and 0 < two["exchange_share"] < 1
    assert two["jobs"] == 2 and two["rounds"] == 4  # --repeat 2: two jobs' timed rounds pooled
    assert (tmp_path / "s.csv").read_text().count("\n") == 3


def test_nodes_started_by_rank_as_srun_would(tag, tmp_path):
    """``python -m harness.distributed.node`` on ranks 0..3 of an emulated ``srun -n 4``: scheduler, server,
    2 workers."""
    import json
    import sys

    from harness.distributed.launch import free_port

    spec = {"combination": Combination().as_dict(), "task": Task(num_examples=100).as_dict(),
            "settings": Settings(1, 10).as_dict(), "kvstore": "dist_sync", "placement": "harness"}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    port = free_port("127.0.0.1")
    procs = [subprocess.Popen([sys.executable, "-m", "harness.distributed.node", "--scheduler", f"127.0.0.1:{port}",
                               "--servers", "1", str(path)], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, start_new_session=True,
                              env={**os.environ, "SLURM_PROCID": str(rank), "SLURM_NTASKS": "4",
                                   "DMLC_NODE_HOST": "127.0.0.1", "DMLC_INTERFACE": "lo"})
             for rank in range(4)]
    try:
        outs = [p.communicate(timeout=90)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    results = [line for out in outs[2:] for line in out.splitlines() if '"event": "result"' in line]
    assert len(results) == 2 and {json.loads(r.split(" ", 1)[1])["rank"] for r in results} == {0, 1}


def test_dist_async_trains_as_its_own_maths(tag):
    """Async SGD: each rank's parameters differ (no rounds), the loss still falls; its update is named."""
    task = Task(num_examples=1000, num_inputs=3)
    spec = {"combination": Combination().as_dict(), "task": task.as_dict(),
            "settings": Settings(3, 10, 0.03, shuffle=False).as_dict(), "kvstore": "dist_async", "placement": "harness"}
    result = launch(Job(spec, workers=2, timeout=60, deadline=120))
    assert result.status == "ok", result.error
    for worker in result.workers.values():
        losses = [e["loss"] for e in worker["epochs"]]
        assert losses[-1] < losses[0] / 10
        assert worker["result"]["update"] == "workers + servers add Δw (async)"


def listening_addresses(pids) -> set[str]:
    """IPv4 addresses the processes ``pids`` listen on (from /proc: socket inodes → /proc/net/tcp)."""
    inodes = set()
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    with open("/proc/net/tcp") as fh:
        for line in fh.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                ip = fields[1].split(":")[0]
                found.add(socket.inet_ntoa(bytes.fromhex(ip)[::-1]))
    return found


def test_servers_and_workers_started_over_ssh_bind_only_the_named_address(tag, tmp_path, monkeypatch):
    """``--hosts``: a stand-in ``ssh`` runs the remote command here; servers and workers listen on 127.0.0.2,
    the address the host file names, and the scheduler on --host, nowhere else."""
    fake = tmp_path / "bin" / "ssh"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nfor last; do :; done\nexec sh -c "$last"\n')  # ssh [options] HOST COMMAND
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    spec = {"combination": Combination().as_dict(), "task": Task(num_examples=1000).as_dict(),
            "settings": Settings(20, 10).as_dict(), "kvstore": "dist_sync", "placement": "harness"}
    seen = {}

    def inspect(proc, event):
        if event["event"] == "epoch" and event["epoch"] == 1 and proc.rank == 0:
            seen["nodes"] = [p for p in job_processes(tag) if p != os.getpid()]
            seen["addresses"] = listening_addresses(seen["nodes"])

    result = launch(Job(spec, workers=2, timeout=30, deadline=120, hosts=["127.0.0.2"]), on_event=inspect)
    assert result.status == "ok", result.error
    assert len(seen["nodes"]) == 4 and seen["addresses"] == {"127.0.0.1", "127.0.0.2"}, seen
