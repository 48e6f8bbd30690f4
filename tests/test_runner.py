"""Process isolation and A/B: the worker protocol, the runner surviving crashes and hangs, and the
``harness ab`` / ``bench --processes`` commands as a user types them (small workloads; the measured
false-positive and detection rates are in docs/statistics.md, not here)."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from harness.measure import planning, runner, worker, workloads
from harness.roles import Combination
from tests.conftest import ROOT, run_cli
from tests.helpers import interruptible

SMALL = dataclasses.replace(workloads.workload("seed"), num_examples=200, rounds=2, warmup=1)
SLOWDOWN = ["-p", "tests/plugins/slowdown.py", "--data", "slowdown", "--model", "slowdown", "--loss", "slowdown",
            "--optimizer", "slowdown", "--num-examples", "200", "--no-references"]


def test_worker_protocol_in_process():
    case = planning.Case(Combination(), "cpu", SMALL)
    job = {"case": worker.case_to_dict(case), "plugin_specs": [], "strict": False}
    said = []
    worker.serve(iter([json.dumps(job), '{"cmd": "round"}', '{"cmd": "round"}', '{"cmd": "finish"}']), said.append)
    assert [m["event"] for m in said] == ["ready", "round", "round", "done"]
    done = said[-1]
    assert done["status"] == "ok" and len(done["metrics"]["epoch_seconds"]) == 3  # warm-up + 2 rounds
    assert len(done["metrics"]["epoch_cpu_seconds"]) == 3 and all(s > 0 for s in done["metrics"]["epoch_cpu_seconds"])
    assert done["metrics"]["epoch_seconds"][1:] == [said[1]["seconds"], said[2]["seconds"]]
    assert worker.case_from_dict(job["case"]) == case


def test_worker_measures_one_job_after_another():
    first = planning.Case(Combination(), "cpu", SMALL)
    second = planning.Case(Combination(model="gluon"), "cpu", dataclasses.replace(SMALL, num_examples=100))
    jobs = [json.dumps({"case": worker.case_to_dict(c), "plugin_specs": [], "strict": False}) for c in (first, second)]
    said = []
    worker.serve(iter([jobs[0], '{"cmd": "round"}', '{"cmd": "finish"}', jobs[1], '{"cmd": "round"}',
                       '{"cmd": "round"}']), said.append)  # the input ends in the second job: it still answers
    assert [m["event"] for m in said] == ["ready", "round", "done", "ready", "round", "round", "done"]
    assert [len(m["metrics"]["epoch_seconds"]) for m in said if m["event"] == "done"] == [2, 3]
    assert [m["metrics"]["steps_per_epoch"] for m in said if m["event"] == "done"] == [20, 10]  # each its own case


def test_worker_reports_a_bad_job_and_a_failing_case():
    said = []
    worker.serve(iter(["{}"]), said.append)
    assert said[0]["status"] == "failed" and said[0]["error"].startswith("bad job")
    case = planning.Case(Combination(optimizer="explode"), "cpu", SMALL)
    job = {"case": worker.case_to_dict(case), "plugin_specs": ["tests/plugins/faulty.py"]}
    said = []
    worker.serve(iter([json.dumps(job)]), said.append)
    assert said[-1]["status"] == "failed" and "diverged" in said[-1]["error"]


def test_runner_pools_processes_and_survives_crash_and_hang(builtin_registry):
    zero_warmup = dataclasses.replace(SMALL, warmup=0)
    planned = [(planning.Case(Combination(), "cpu", SMALL), None),
               (planning.Case(Combination(optimizer="abort"), "cpu", zero_warmup), None),
               (planning.Case(Combination(optimizer="hang"), "cpu", zero_warmup), None),
               (planning.Case(Combination(model="gluon"), "gpu", SMALL), "no GPU")]
    seen = []
    [rows] = runner.run(planned, 2, [runner.Environment()], ["tests/plugins/crashing.py"], timeout=20,
                        on_row=lambda side, row: seen.append(row.status))
    ok, aborted, hung, skipped = rows
    assert ok.status == "ok" and ok.metrics["processes"] == 2 and ok.stats.rounds == 2
    assert [len(p) for p in ok.metrics["process_seconds"]] == [1, 1]
    assert "epoch_median_ci_s" in ok.metrics and isinstance(ok.metrics["unstable"], list)
    assert aborted.status == "failed" and "SIGABRT" in aborted.error
    assert hung.status == "failed" and "timed out after 20 s" in hung.error
    assert skipped.status == "skipped"
    assert sorted(seen) == ["failed", "failed", "ok", "skipped"]


def test_runner_keeps_a_worker_per_slot_and_replaces_a_crashed_one(builtin_registry):
    zero_warmup = dataclasses.replace(SMALL, warmup=0)
    planned = [(planning.Case(Combination(optimizer="abort"), "cpu", zero_warmup), None),
               (planning.Case(Combination(), "cpu", SMALL), None),
               (planning.Case(Combination(model="gluon"), "cpu", SMALL), None)]
    started = []
    real = runner.Worker.__init__

    def counting(self, *args, **kwargs):
        started.append(1)
        real(self, *args, **kwargs)

    runner.Worker.__init__ = counting
    try:
        aborted, ok, ok2 = runner.run(planned, 2, [runner.Environment()], ["tests/plugins/crashing.py"], timeout=60,
                                      per_case=False)[0]
    finally:
        runner.Worker.__init__ = real
    assert aborted.status == "failed" and "SIGABRT" in aborted.error
    assert ok.status == ok2.status == "ok" and ok.metrics["processes"] == ok2.metrics["processes"] == 2
    assert len(started) == 4  # per slot: the first worker aborts, its replacement measures the other two cases


def test_split_rounds_and_env_parsing():
    assert runner.split_rounds(10, 3) == [4, 3, 3]
    with pytest.raises(Exception, match="each process needs a round"):
        runner.split_rounds(2, 3)
    assert runner.parse_env(["A=1", "MXNET_ENGINE_TYPE=NaiveEngine", "E="], "--a-env") == {
        "A": "1", "MXNET_ENGINE_TYPE": "NaiveEngine", "E": ""}
    with pytest.raises(Exception, match="expected NAME=VALUE"):
        runner.parse_env(["nope"], "--b-env")


def test_ab_with_two_env_sets_detects_a_known_slowdown_and_gates(tmp_path):
    out = tmp_path / "ab.json"
    done = run_cli("ab", *SLOWDOWN, "--b-env", "HARNESS_SLOWDOWN=3", "--a-env", "HARNESS_SLOWDOWN=0",
                   "--processes", "6", "--json", str(out), "--fail-on-regression", "50%")
    assert done.returncode == 1, done.stderr
    assert "regression: test_epoch[seed-cpu-slowdown-slowdown-slowdown-slowdown]" in done.stderr
    assert "6×2 vs 6×2" in done.stdout and "B: " in done.stdout and "HARNESS_SLOWDOWN=3" in done.stdout
    doc = json.loads(out.read_text())
    [row] = doc["rows"]
    # 6 pairs, all slower in B: the smallest sign-test p there is, 2/2^6
    assert row["verdict"] == "slower" and row["ratio"] > 1.5 and row["ratio_ci"]["low"] > 1.2
    assert row["p"] == pytest.approx(2 / 64) and row["test"] == "sign test over process pairs"
    assert len(row["a"]["process_seconds"]) == 6 and doc["settings"]["correction"] == "holm"
    # both sides also carry bench's thread setting (--threads auto): the same on both, recorded
    a_env, b_env = doc["sides"]["A"]["env"], doc["sides"]["B"]["env"]
    assert b_env.pop("HARNESS_SLOWDOWN") == "3" and a_env.pop("HARNESS_SLOWDOWN") == "0" and a_env == b_env


def test_ab_with_two_interpreters(tmp_path):
    out = tmp_path / "ab.json"
    done = run_cli("ab", *SLOWDOWN, "--a-python", sys.executable, "--b-python", sys.executable, "--rounds", "12",
                   "--processes", "6", "--clock", "cpu", "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(sys.executable) == 2 and "6×2 vs 6×2" in done.stdout and "cpu clock" in done.stdout
    [row] = json.loads(out.read_text())["rows"]
    cpu = row["a"]["process_cpu_seconds"]
    fastest = sorted(min(p) for p in cpu)
    assert [len(p) for p in cpu] == [2] * 6  # the median of the six processes' fastest rounds
    assert row["a"]["median"] == pytest.approx((fastest[2] + fastest[3]) / 2)


@pytest.mark.parametrize("args,message", [
    (["--processes", "3"], "with 3 process pairs the smallest attainable sign-test p is 0.25"),
    (["--b-env", "oops"], "--b-env 'oops': expected NAME=VALUE"),
    (["--b-python", "/nonexistent/python"], "cannot run /nonexistent/python"),
    (["--a-python", "/usr/bin/python3"], "cannot run the harness worker (ModuleNotFoundError"),
    (["--processes", "9", "--rounds", "8"], "cannot be spread over --processes 9"),
])
def test_ab_bad_input_is_one_line_exit_2(args, message):
    done = run_cli("ab", *SLOWDOWN, *args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_ab_pairs_processes_and_flags_an_uninformative_ratio():
    from harness.analysis import ab
    from harness.measure import measuring

    case = planning.Case(Combination(), "cpu", SMALL)

    def row(processes):
        return measuring.Row(case, "ok", metrics={"process_seconds": processes, "process_cpu_seconds": processes})

    a = [[0.100, 0.101 + k / 1000] for k in range(12)]
    steady = [[(1.1 + k / 1000) * x for x in p] for k, p in enumerate(a)]  # every pair ~10 % slower in B
    noisy = [[x * (1.5 if k % 2 else 0.8) for x in p] for k, p in enumerate(a)]
    [slower, unclear] = ab.pair_up([row(a), row(a)], [row(steady), row(noisy)], alpha=0.05)
    assert slower.verdict == "slower" and slower.unstable == []
    assert slower.change.ratio.estimate == pytest.approx(1.1055, abs=1e-3)
    assert slower.change.p == pytest.approx(2 / 2 ** 12) and slower.change.p_holm == pytest.approx(2 * 2 / 2 ** 12)
    assert unclear.verdict == "same" and unclear.unstable and unclear.unstable[0].startswith("ratio CI ±")


def test_ab_notes_a_busy_machine(monkeypatch):
    from harness.api import AB

    def busy(load, clock):
        return AB([], [], [], {"load_average": load, "clock": clock}, False).busy()

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert "load average 1.5 -> 4.2 on 2 cores" in busy([1.5, 4.2], "wall")
    assert busy([0.4, 1.9], "wall") == "" and busy([3.0, 4.0], "cpu") == ""


def test_bench_processes_table_and_json(tmp_path):
    out = tmp_path / "run.json"
    done = run_cli("bench", "--data", "scratch", "--model", "scratch", "--loss", "scratch", "--optimizer", "scratch",
                   "--num-examples", "200", "--rounds", "4", "--processes", "2", "--wide", "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert "2×2" in done.stdout and "95% CI (ms)" in done.stdout and "spread over 2 fresh processes" in done.stdout
    [entry, *_] = json.loads(out.read_text())["benchmarks"]
    assert entry["extra_info"]["processes"] == 2 and len(entry["stats"]["data"]) == 4
    assert "epoch_median_ci_s" in entry["extra_info"]
    bad = run_cli("bench", "--processes", "2", "--interleave")
    assert bad.returncode == 2 and "--interleave is the in-process round robin" in bad.stderr


def _processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (the workers of one test run, nobody else's)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    if marker.encode() in fh.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def test_ab_ctrl_c_keeps_finished_cases_and_ends_its_workers(tmp_path):
    marker = f"HARNESS_TEST_MARK={uuid.uuid4().hex}"
    path, hanging = tmp_path / "ab.json", tmp_path / "hanging"
    # the first case takes a second; the second hangs in its warm-up until the signal
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/harness"), "ab", "-p", "tests/plugins/crashing.py", "--data", "scratch", "--model",
         "scratch", "--loss", "scratch", "--optimizer", "scratch", "--optimizer", "hang", "--no-references",
         "--num-examples", "200", "--processes", "6", "--alpha", "0.2", "--a-env", marker, "--b-env", marker,
         "--a-env", f"HARNESS_HANG_FLAG={hanging}", "--b-env", f"HARNESS_HANG_FLAG={hanging}", "--json", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, preexec_fn=interruptible)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not hanging.exists():
            time.sleep(0.2)
        assert len(_processes_with(marker)) == 2  # slot 1's two workers, now in the hanging case
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 130, err
    assert "kept the 1 cases both sides finished" in err and "1 of 2 rows (2 combinations)" in out
    doc = json.loads(path.read_text())
    assert doc["interrupted"] is True and [r["verdict"] for r in doc["rows"]] in (["same"], ["slower"], ["faster"])
    assert _processes_with(marker) == []


@pytest.mark.parametrize("fraction,batches", [("0", 100), ("0.05", 105), ("0.1", 110), ("0.2", 120), ("3", 400)])
def test_slowdown_plugin_adds_exactly_the_asked_steps(monkeypatch, fraction, batches):
    from mxnet import nd

    from tests.plugins import slowdown

    monkeypatch.setenv("HARNESS_SLOWDOWN", fraction)
    features, labels = nd.ones((1000, 2)), nd.ones((1000,))
    assert sum(1 for _ in slowdown.data_iter(10, features, labels)) == batches
