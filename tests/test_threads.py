"""MXNet's OpenMP threads: the --threads setting, what MXNet really computes with, and where both are reported."""
import json
import os
import subprocess
import sys

import pytest

from harness.core.errors import HarnessError
from harness.measure import threads
from harness.measure.runner import Environment
from tests.conftest import HARNESS, ROOT

TWO_CORES = pytest.mark.skipif(threads.usable_cpus() < 2, reason="needs 2 usable CPUs to tell 1 thread from 2")
TINY = ("--data", "fast", "--model", "fast", "--loss", "fast", "--optimizer", "fast", "--num-examples", "40",
        "--rounds", "1", "--no-references", "-q")


def _env(**changes):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@pytest.mark.parametrize("text, value", [(None, None), ("auto", "auto"), ("mxnet", "mxnet"), ("3", 3), (2, 2)])
def test_parse_accepts(text, value):
    assert threads.parse(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5", "", 2.0, True, 0])
def test_parse_rejects_in_one_line(text):
    with pytest.raises(HarnessError, match="positive integer, auto or mxnet"):
        threads.parse(text)


def test_target_default_keeps_the_users_variable_else_one_per_core():
    cores = str(threads.physical_cores())
    assert threads.target(None, {"OMP_NUM_THREADS": "3"}) == "3"
    assert threads.target(None, {}) == cores
    assert threads.target("auto", {"OMP_NUM_THREADS": "3"}) == cores
    assert threads.target("mxnet", {"OMP_NUM_THREADS": "3"}) is None
    assert threads.target(5, {}) == "5"


def test_expected_follows_mxnets_rule():
    assert threads.expected("3", logical=8) == 3
    assert threads.expected("2,1", logical=8) == 2  # a nested list: the outer level's
    import platform

    if platform.machine() in ("x86_64", "AMD64"):
        assert threads.expected(None, logical=8) == 4  # openmp.cc: half the logical CPUs on x86
        assert threads.expected(None, logical=1) == 1


def test_physical_cores_within_usable():
    assert 1 <= threads.physical_cores() <= threads.usable_cpus()


def _measured(omp):
    code = "from harness.measure import threads; print(threads.measure())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=_env(OMP_NUM_THREADS=omp, MXNET_ENGINE_TYPE=None, MXNET_OMP_MAX_THREADS=None))
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


@TWO_CORES
def test_measure_counts_the_threads_that_compute():
    # the variable alone would not tell: MXNet halves the cores when it is unset
    assert _measured("1") == 1
    assert _measured("2") == 2
    assert _measured(None) == threads.expected(None)


def _bench(*args, **env):
    return subprocess.run([HARNESS, "bench", *TINY, *args], capture_output=True, text=True, timeout=300,
                          env=_env(**env), cwd=ROOT)


@TWO_CORES
def test_bench_threads_option_reaches_mxnet_and_is_recorded(tmp_path):
    out = tmp_path / "run.json"
    proc = _bench("--threads", "1", "--json", str(out), OMP_NUM_THREADS="2")
    assert proc.returncode == 0, proc.stderr
    cores = threads.physical_cores()
    assert f"MXNet OpenMP threads 1 of {cores} cores (measured; --threads 1; OMP_NUM_THREADS=1)" in proc.stdout
    assert f"MXNet computes on 1 OpenMP thread of {cores} cores" in proc.stderr  # the warning
    record = json.loads(out.read_text())["machine_info"]["harness"]["threads"]
    assert record == {"setting": 1, "OMP_NUM_THREADS": "1", "mxnet_threads": 1, "measured": True, "cores": cores,
                      "logical": threads.usable_cpus()}


def test_bench_default_is_one_thread_per_core_unless_the_variable_is_set():
    cores = threads.physical_cores()
    proc = _bench(OMP_NUM_THREADS=None)
    assert proc.returncode == 0, proc.stderr
    assert f"(measured; --threads auto; OMP_NUM_THREADS={cores})" in proc.stdout
    assert "OpenMP thread" not in proc.stderr  # no warning
    proc = _bench(OMP_NUM_THREADS="1")
    assert proc.returncode == 0, proc.stderr
    assert "(measured; OMP_NUM_THREADS=1)" in proc.stdout


@pytest.mark.parametrize("command", ["bench", "ab"])
def test_bad_threads_is_one_line_exit_2(command):
    proc = subprocess.run([HARNESS, command, "--threads", "0"], capture_output=True, text=True, timeout=120,
                          env=_env(), cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"harness {command}: error: argument --threads: must be a positive integer, auto or mxnet; got '0' "
        f"(see harness {command} --help)"]


def test_api_refuses_threads_this_process_cannot_have():
    import harness

    have = threads.measure()
    if have is None:
        pytest.skip("no per-thread CPU accounting here")
    with pytest.raises(HarnessError, match=f"computes on {have}; set OMP_NUM_THREADS before importing mxnet"):
        harness.bench(data="fast", model="fast", loss="fast", optimizer="fast", num_examples=40, rounds=1,
                      references=False, threads=have + 1)
    result = harness.bench(data="fast", model="fast", loss="fast", optimizer="fast", num_examples=40, rounds=1,
                           references=False, threads=have)
    assert result.machine["harness"]["threads"]["mxnet_threads"] == have


def test_worker_processes_start_with_the_setting():
    import harness

    result = harness.bench(data="fast", model="fast", loss="fast", optimizer="fast", num_examples=40, rounds=1,
                           references=False, threads="mxnet", processes=1)
    assert not result.failed
    record = result.machine["harness"]["threads"]
    assert record["setting"] == "mxnet" and record["OMP_NUM_THREADS"] is None and not record["measured"]
    assert record["mxnet_threads"] == threads.expected(None)


def test_runner_environment_none_unsets():
    side = Environment("A", env={"OMP_NUM_THREADS": None, "HARNESS_X": "1"})
    environ = side.environ()
    assert "OMP_NUM_THREADS" not in environ and environ["HARNESS_X"] == "1"
    assert "OMP_NUM_THREADS unset" in side.describe()
