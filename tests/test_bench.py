"""``harness bench``: metrics on controlled plugins, failed rows, outputs, interrupts, bad options."""
import csv
import importlib.util
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
from dataclasses import replace

import mxnet as mx
import numpy as np
import pytest

from harness.cli import main
from harness.core.loader import load
from harness.core.timing import measure
from harness.errors import HarnessError
from harness.measure import measuring, planning, workloads
from harness.output import bench_csv, bench_json, bench_table
from harness.roles import Combination
from tests.conftest import ROOT, run_cli
from tests.helpers import wait_for_bytes, weights
from tests.plugins import slow

HAS_TORCH = importlib.util.find_spec("torch") is not None
TINY = dict(num_examples=50, batch_size=10, rounds=3, warmup=1)


@pytest.fixture(scope="module")
def registry():
    return load(only=["scratch", "gluon"], extra=["tests.plugins.slow", "tests.plugins.faulty"])


def test_metrics_of_a_known_slow_step(registry):
    load_ = workloads.workload("seed", **TINY)
    case = planning.Case(Combination(optimizer="slow"), "cpu", load_)
    row = measuring.run_case(registry, case)
    assert row.status == "ok", row.error
    m, stats = row.metrics, row.stats
    assert stats.rounds == m["rounds"] == 3 and len(m["epoch_seconds"]) == len(m["losses"]) == 4
    assert list(stats.data) == m["epoch_seconds"][1:]  # warm-up excluded
    assert m["epoch_median_s"] == stats.median == sorted(stats.data)[1]
    assert m["steps_per_epoch"] == 5
    assert m["us_per_step"] == pytest.approx(stats.median / 5 * 1e6)
    assert m["us_per_step"] >= slow.SLEEP * 1e6  # every step carries the known sleep
    assert m["samples_per_s"] == pytest.approx(50 / stats.median)
    assert m["samples_per_s"] <= 10 / slow.SLEEP  # batches of 10, each at least SLEEP
    assert m["final_loss"] == m["losses"][-1]
    ttt, epochs = m["time_to_target_s"], m["epochs_to_target"]
    if epochs is None:
        assert min(m["losses"]) >= load_.target_loss
    else:
        assert m["losses"][epochs - 1] < load_.target_loss <= min(m["losses"][: epochs - 1], default=math.inf)
        assert ttt == pytest.approx(sum(m["epoch_seconds"][:epochs]))
    assert m["peak_rss_mib"] > 10


def test_param_error_is_max_distance_to_true_parameters(registry):
    case = planning.Case(Combination(), "cpu", workloads.workload("seed", **TINY))
    runner = measure(case.session(registry), rounds=1, warmup=0)
    w, b = weights(runner.session.net)
    metrics = measuring.metrics(case, measuring.stats_of(runner.seconds), runner, 1.0)
    assert metrics["param_error"] == pytest.approx(max(abs(w[0] - 2), abs(w[1] + 3.4), abs(b - 4.2)))


def test_failed_and_skipped_rows_are_kept(registry):
    load_ = workloads.workload("seed", **TINY)
    combos = [Combination(), Combination(model="broken"), Combination(optimizer="explode")]
    rows = measuring.run_matrix(registry, planning.cases(combos, ["cpu", "gpu:7"], load_))
    assert len(rows) == 6
    by = {(r.case.combo, r.case.ctx): r for r in rows}
    assert by[(Combination(), "cpu")].status == "ok"
    broken = by[(Combination(model="broken"), "cpu")]
    assert broken.status == "failed" and "RuntimeError: broken model: refuses to build" in broken.error
    exploded = by[(Combination(optimizer="explode"), "cpu")]
    assert exploded.status == "failed" and exploded.error.startswith("diverged at epoch 1")
    assert all(r.status == "skipped" and "gpu:7" in r.error for (c, ctx), r in by.items() if ctx == "gpu:7")
    text = bench_table.render_table(rows)
    assert text.count("FAILED") == 2 and text.count("SKIPPED") == 3
    doc = bench_json.to_document(rows)
    assert [b["name"] for b in doc["benchmarks"]] == ["test_epoch[seed-cpu-scratch-scratch-scratch-scratch]"]
    assert sorted(e["status"] for e in doc["harness"]["not_run"]) == ["failed", "failed"] + ["skipped"] * 3


def test_ratio_and_order_use_the_all_scratch_median(registry):
    load_ = workloads.workload("seed", **TINY)
    fast = measuring.Row(planning.Case(Combination(), "cpu", load_), "ok", stats=measuring.stats_of([0.2, 0.1, 0.3]))
    slow_row = measuring.Row(planning.Case(Combination(data="gluon"), "cpu", load_), "ok",
                             stats=measuring.stats_of([0.5, 0.4, 0.6]))
    failed = measuring.Row(planning.Case(Combination(model="broken"), "cpu", load_), "failed", "boom")
    for row in (fast, slow_row):
        row.metrics = {"epoch_median_s": row.stats.median, "samples_per_s": 50 / row.stats.median}
    assert measuring.sorted_rows([failed, slow_row, fast]) == [fast, slow_row, failed]
    lines = list(csv.DictReader(io.StringIO(bench_csv.to_csv([failed, slow_row, fast]))))
    assert [line["status"] for line in lines] == ["ok", "ok", "failed"]
    assert float(lines[1]["ratio_to_scratch"]) == pytest.approx(2.5)
    assert lines[2]["error"] == "boom" and lines[2]["ratio_to_scratch"] == ""


def test_default_matrix_is_the_seeds_and_all_adds_the_rest(registry):
    seed = planning.select(registry, {}, everything=False)
    assert len(seed) == 16 and {c.optimizer for c in seed} == {"scratch", "gluon"}
    assert planning.left_out(registry, seed) == ["model:broken", "optimizer:explode", "optimizer:slow"]
    everything = planning.select(registry, {}, everything=True)
    assert len(everything) == 2 * 3 * 2 * 4 and planning.left_out(registry, everything) == []
    fixed = planning.select(registry, {"data": ["scratch"], "optimizer": ["slow", "gluon"]}, everything=False)
    assert len(fixed) == 8 and {c.optimizer for c in fixed} == {"slow", "gluon"}


def test_workload_overrides_and_errors(registry):
    large = workloads.workload("large")
    assert (large.num_examples, large.num_inputs, large.batch_size) == (100_000, 100, 1000)
    assert workloads.workload("seed", batch_size=None, rounds=4).rounds == 4
    for bad in [dict(rounds=0), dict(warmup=-1), dict(target_loss=0), dict(target_acc=1.5),
                dict(target_loss=1e-3, target_acc=0.9)]:
        with pytest.raises(HarnessError):
            workloads.workload("seed", **bad)
    too_big = workloads.workload("seed", batch_size=5000)  # checked against the task's size
    with pytest.raises(HarnessError, match="--batch-size must be between 1 and --num-examples"):
        too_big.settings(too_big.build_task(registry))


def test_workloads_belong_to_tasks():
    assert workloads.workload(None).name == "seed"
    assert workloads.workload(None, "mlp").name == "digits"
    book = workloads.workload("book", "mlp")
    assert (book.task, book.dataset, book.label) == ("mlp", "synthetic", "mlp-book")
    with pytest.raises(HarnessError,
                       match="workload 'seed' is not for task 'softmax'; valid for softmax: digits, book"):
        workloads.workload("seed", "softmax")
    with pytest.raises(HarnessError, match="workload 'book' is not for task 'linreg'"):
        workloads.workload("book")
    # the user's accuracy target replaces the workload's loss target
    assert workloads.workload("digits", "mlp", target_acc=0.5).target_loss is None


BAD_OPTIONS = [
    (["--workload", "huge"], "unknown workload 'huge'; valid: seed, large"),
    (["--rounds", "0"], "--rounds must be a positive integer"),
    (["--ctx", "tpu"], "invalid context 'tpu'"),
    (["--format", "nope"], "unknown --format 'nope'; valid:"),
    (["--data", "nope"], "unknown data 'nope'; available:"),
    (["--batch-size", "0"], "--batch-size must be between 1"),
    (["--json", "/proc/nope/run.json"], "cannot write /proc/nope/run.json"),
    (["--csv", "/"], "cannot write /:"),
    (["--columns", "combination,nope"], "unknown column 'nope'; valid: combination, data,"),
]


@pytest.mark.parametrize("argv,message", BAD_OPTIONS, ids=[a[0] for a, _ in BAD_OPTIONS])
def test_bad_options_are_one_line_exit_2(argv, message, capsys):
    assert main(["bench", "-q", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_bad_option_from_the_shell():
    proc = run_cli("bench", "--rounds", "zero")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--rounds" in proc.stderr


def test_bench_writes_table_json_csv_plot(tmp_path):
    out = {ext: tmp_path / f"run.{ext}" for ext in ("json", "csv", "png")}
    proc = run_cli("bench", "--num-examples", "40", "--rounds", "3", "--json", str(out["json"]),
                   "--csv", str(out["csv"]), "--plot", str(out["png"]), "--format", "github", "--wide")
    assert proc.returncode == 0, proc.stderr
    # the seed's 16, all-fast on its own and fused, and the references (torch's skipped where it is not installed)
    status = [line.rstrip(" |").rsplit("|", 1)[-1].strip()
              for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert status.count("ok") == 18
    refs = 1 + HAS_TORCH
    assert status.count("reference") == refs
    assert f"20 of 20 rows (18 combinations + 2 references); 0 failed, {2 - refs} skipped" in proc.stdout
    assert "| fast " in proc.stdout and "| fast+fused " in proc.stdout and "| numpy (reference) " in proc.stdout
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal

    doc = json.loads(out["json"].read_text())
    assert set(doc) >= {"machine_info", "commit_info", "benchmarks", "datetime", "version", "harness"}
    env = doc["machine_info"]["harness"]
    assert env["mxnet"]["version"] == mx.__version__ and "CPU_SSE" in env["mxnet"]["features"]
    assert {"OMP_NUM_THREADS", "MXNET_ENGINE_TYPE"} <= set(env["env"])
    assert env["cpu_count"]["logical"] >= 1 and env["cpu_model"] and env["python"]
    assert set(doc["commit_info"]) >= {"id", "dirty"}
    medians = [b["stats"]["median"] for b in doc["benchmarks"]]
    assert len(medians) == 18 + refs and medians == sorted(medians)
    for b in doc["benchmarks"]:
        assert len(b["stats"]["data"]) == 3 and b["stats"]["median"] == pytest.approx(np.median(b["stats"]["data"]))
        assert b["extra_info"]["steps_per_epoch"] == 4 and b["extra_info"]["final_loss"] > 0

    lines = list(csv.DictReader(out["csv"].open()))
    assert len(lines) == 20 and [line["status"] for line in lines].count("ok") == 18 + refs
    numpy_line = next(line for line in lines if line["reference"] == "numpy")
    assert float(numpy_line["ratio_to_numpy"]) == 1.0 and float(numpy_line["ratio_to_scratch"]) > 0
    assert {line["mxnet"] for line in lines} == {mx.__version__}
    assert {line["commit"] for line in lines} == {doc["commit_info"]["id"]}
    assert f"MXNet {mx.__version__} [" in proc.stdout and "OMP_NUM_THREADS=" in proc.stdout
    assert [float(line["epoch_median_s"]) for line in lines if line["status"] == "ok"] == pytest.approx(medians)
    assert out["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    compare = subprocess.run([str(ROOT / ".venv/bin/pytest-benchmark"), "compare", str(out["json"])],
                             capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert compare.returncode == 0, compare.stderr
    assert f"benchmark 'seed-cpu': {18 + refs} tests" in compare.stdout
    assert "test_epoch[seed-cpu-fast-fast-fast-fast-fused]" in compare.stdout
    assert "test_epoch[seed-cpu-scratch-scratch-scratch-scratch]" in compare.stdout


def test_failed_combinations_are_rows_and_exit_1(tmp_path):
    path = tmp_path / "run.json"
    proc = run_cli("-p", "tests.plugins.faulty", "bench", "--num-examples", "40", "--rounds", "2",
                   "--model", "scratch", "--model", "broken", "--optimizer", "scratch", "--optimizer", "explode",
                   "--data", "scratch", "--loss", "scratch", "--no-references", "--json", str(path))
    assert proc.returncode == 1, proc.stderr
    # errors are numbered notes under the table: the same error once
    notes = dict(re.findall(r"^\[(\d)\] (\w+)", proc.stdout, re.M))
    assert sorted(notes.values()) == ["RuntimeError", "diverged"]
    by_error = {error: n for n, error in notes.items()}
    assert proc.stdout.count(f"FAILED [{by_error['RuntimeError']}]") == 2
    assert proc.stdout.count(f"FAILED [{by_error['diverged']}]") == 1
    doc = json.loads(path.read_text())
    assert len(doc["benchmarks"]) == 1 and len(doc["harness"]["not_run"]) == 3


def test_ctrl_c_keeps_finished_rows(tmp_path):
    out = {ext: tmp_path / f"run.{ext}" for ext in ("json", "csv")}
    proc = run_cli("-p", "tests.plugins.interrupting", "bench", "--num-examples", "40", "--rounds", "2",
                   "--data", "scratch", "--model", "scratch", "--loss", "scratch",
                   "--optimizer", "scratch", "--optimizer", "interrupt", "--optimizer", "gluon",
                   "--json", str(out["json"]), "--csv", str(out["csv"]))
    assert proc.returncode == 130
    assert "interrupted; kept the 1 finished combinations" in proc.stderr
    assert "1 of 5 rows (3 combinations + 2 references)" in proc.stdout
    doc = json.loads(out["json"].read_text())
    assert doc["harness"]["interrupted"] is True
    assert [b["name"] for b in doc["benchmarks"]] == ["test_epoch[seed-cpu-scratch-scratch-scratch-scratch]"]
    assert len(out["csv"].read_text().splitlines()) == 2


def _step_log(tmp_path) -> dict:
    return {**os.environ, "HARNESS_TEST_STEP_LOG": str(tmp_path / "steps")}


def _wait_for_steps(proc, tmp_path, steps: int, timeout: float = 120) -> None:
    """Until the slow optimizer has finished ``steps`` steps (it logs one byte per step)."""
    wait_for_bytes(tmp_path / "steps", proc, steps, timeout, f"the slow case did not reach {steps} steps")


def test_real_sigint_while_a_case_runs(tmp_path):
    path = tmp_path / "run.json"
    # the second case takes ~16 s (200 steps x 20 ms x 4 epochs); the signal lands inside it
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/harness"), "-p", "tests.plugins.slow", "bench", "--num-examples", "2000",
         "--rounds", "3", "--data", "scratch", "--model", "scratch", "--loss", "scratch",
         "--optimizer", "scratch", "--optimizer", "slow", "--json", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_step_log(tmp_path),
    )
    _wait_for_steps(proc, tmp_path, 50)  # inside the slow case
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "kept the 1 finished combinations" in err and "1 of 4 rows (2 combinations + 2 references)" in out
    doc = json.loads(path.read_text())
    assert doc["harness"]["interrupted"] is True and len(doc["benchmarks"]) == 1


def stderr_on_a_terminal(*args) -> str:
    """Run ``harness ARGS`` with stderr on a pseudo-terminal 120 columns wide; what it wrote there."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([str(ROOT / ".venv/bin/harness"), *args], stdout=subprocess.DEVNULL, stderr=slave, cwd=ROOT)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=120) == 0
    return b"".join(chunks).decode(errors="replace")


def test_progress_bar_only_on_a_terminal_and_not_with_quiet():
    args = ["bench", "--num-examples", "40", "--rounds", "2", "--data", "scratch", "--model", "scratch",
            "--loss", "scratch", "--no-references"]
    assert "0/2 [" in stderr_on_a_terminal(*args)  # later updates may be throttled on a run this short
    assert "combo" not in stderr_on_a_terminal(*args, "--quiet")


def test_overhead_option_prints_the_ratio():
    proc = run_cli("bench", "--overhead", "--num-examples", "40", "--rounds", "3")
    assert proc.returncode == 0, proc.stderr
    assert "harness overhead: seed loop" in proc.stdout and "ratio" in proc.stdout
    assert "(Hodges–Lehmann), 95% CI" in proc.stdout and "undecided: 90% is all these rounds give" in proc.stdout
    # the counted line: what each harness step asks beyond the seed's (tests/test_overhead.py checks the numbers)
    assert re.search(r"per step, counted: harness \+[\d.]+ Python calls \(seed \d+\)", proc.stdout), proc.stdout
    assert "engine operations (seed 42; the same ones)" in proc.stdout


def test_benchmarks_suite_runs_syncs_and_lists_failures(tmp_path):
    """``pytest benchmarks/`` on a tiny workload, with the slow and faulty plugins joining the matrix."""
    path = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks/", "-q", "-p", "no:cacheprovider",
         "--harness-plugin", "tests.plugins.slow", "--harness-plugin", "tests.plugins.faulty",
         "--num-examples", "50", "--harness-rounds", "1", "--harness-warmup", "0", f"--benchmark-json={path}"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "HARNESS_LOAD_PLUGINS": "scratch,gluon"},  # whatever else is installed
    )
    # 2 data x 3 models x 2 losses x 4 optimizers on cpu; broken model (16) and explode (8 more) fail;
    # the same 48 on gpu are skipped with the reason; plus the overhead benchmark, the running metrics' cost
    # (test_metrics_cost.py) and the references (numpy; torch where it is installed, else skipped with the reason)
    passed, skipped = 25 + 1 + 1 + HAS_TORCH, 48 + (not HAS_TORCH)
    assert f"24 failed, {passed} passed, {skipped} skipped" in proc.stdout, proc.stdout[-3000:]
    assert "harness overhead:" in proc.stdout
    doc = json.loads(path.read_text())
    entries = {b["name"]: b for b in doc["benchmarks"]}
    assert len(entries) == passed and doc["machine_info"]["harness"]["mxnet"]["version"] == mx.__version__
    assert entries["test_epoch[seed-cpu-ref-numpy]"]["extra_info"]["combination"] == {"reference": "numpy"}
    not_run = doc["harness"]["not_run"]
    assert sorted(e["status"] for e in not_run) == ["failed"] * 24 + ["skipped"] * skipped
    errors = {e["name"]: e["error"] for e in not_run}
    assert "broken model: refuses to build" in errors["test_epoch[seed-cpu-scratch-broken-scratch-scratch]"]
    assert "diverged at epoch 1" in errors["test_epoch[seed-cpu-scratch-scratch-scratch-explode]"]
    assert "no GPU usable" in errors["test_epoch[seed-gpu-scratch-scratch-scratch-scratch]"]
    slow_entries = [b for name, b in entries.items() if name.endswith("-slow]")]
    assert len(slow_entries) == 8
    for b in slow_entries:  # pytest-benchmark's own timer is synchronised too
        assert b["stats"]["min"] >= 5 * slow.SLEEP
        assert "synced_clock" in str(b["options"]["timer"])


def test_default_matrix_adds_each_whole_plugin_on_its_own():
    registry = load(only=["scratch", "gluon", "fast"])
    combos = planning.select(registry, {}, everything=False)
    fast = Combination("fast", "fast", "fast", "fast")
    assert len(combos) == 18 and combos[-2:] == [fast, replace(fast, fused=True)]
    with_fused = planning.select(registry, {}, everything=False, fused=True)
    assert len(with_fused) == len(set(with_fused)) and replace(fast, fused=True) in with_fused
    # role given: no extras
    assert len(planning.select(registry, {"data": ["fast"]}, everything=False)) == 1 * 2 * 2 * 2
    chosen = planning.select(registry, {"data": ["scratch"], "model": ["scratch", "fast"], "loss": ["scratch", "fast"],
                                        "optimizer": ["fast"]}, everything=False, fused=True)
    assert len(chosen) == 4 + 1 and chosen[-1] == Combination("scratch", "fast", "fast", "fast", fused=True)
    assert planning.Case(chosen[-1], "cpu", workloads.workload("seed")).id == "seed-cpu-scratch-fast-fast-fast-fused"


def test_reference_rows_and_ratios(registry):
    load_ = workloads.Workload("tiny", **TINY, num_inputs=2)
    planned = planning.cases([Combination()], ["cpu", "gpu"], load_) + planning.reference_cases(["cpu", "gpu"], load_)
    assert [c.reference for c, _ in planned[-2:]] == ["numpy", "torch"]
    assert all(c.ctx == "cpu" for c, _ in planned[-2:])  # references run once, on the CPU
    rows = measuring.run_matrix(registry,
                                [(c, s) for c, s in planned if not (c.reference == "torch" and not HAS_TORCH)])
    by = {r.case.reference or r.case.combo.label + "@" + r.case.ctx: r for r in rows}
    numpy_row, scratch_row = by["numpy"], by["scratch/scratch/scratch/scratch@cpu"]
    assert numpy_row.status == "ok" and numpy_row.metrics["param_error"] < 5  # trained the same task
    got = bench_table.ratios(rows)
    assert got[id(scratch_row)]["numpy"] == pytest.approx(scratch_row.median / numpy_row.median)
    assert got[id(numpy_row)]["numpy"] == 1.0
    assert by["scratch/scratch/scratch/scratch@gpu"].status == "skipped"
    assert "vs numpy" in bench_table.ratio_columns(rows)
    assert planning.reference_cases(["gpu"], load_) == []


def test_bench_breakdown_table_and_png(tmp_path):
    png = tmp_path / "bd.png"
    proc = run_cli("-p", "tests.plugins.phased", "bench", "--num-examples", "40", "--rounds", "2", "--data", "phased",
                   "--model", "phased", "--loss", "scratch", "--optimizer", "phased", "--no-references",
                   "--breakdown", str(png))
    assert proc.returncode == 0, proc.stderr
    assert "Per-phase breakdown" in proc.stdout and "perturbs the total" in proc.stdout
    line = next(l for l in proc.stdout.split("Per-phase breakdown")[1].splitlines() if l.startswith("phased"))
    data_us, forward_us, backward_us, update_us = (float(v) for v in line.split()[4:8])
    from tests.plugins import phased

    assert (data_us >= phased.DATA_S * 1e6 and update_us >= phased.UPDATE_S * 1e6
            and forward_us >= phased.FORWARD_S * 1e6)
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "reference" not in proc.stdout.split("Per-phase")[0]  # --no-references


def test_interleaved_rounds_go_round_robin_and_keep_failures(registry):
    load_ = workloads.workload("seed", **TINY)
    combos = [Combination(), Combination(optimizer="slow"), Combination(model="broken"),
              Combination(optimizer="explode")]
    planned = planning.cases(combos, ["cpu", "gpu"], load_)
    rows = measuring.run_interleaved(registry, planned)
    assert [r.case for r in rows] == [c for c, _ in planned]  # planned order, whatever happened
    by = {(r.case.combo, r.case.ctx): r for r in rows}
    plain, slowed = by[(Combination(), "cpu")], by[(Combination(optimizer="slow"), "cpu")]
    assert plain.status == slowed.status == "ok"
    assert plain.stats.rounds == slowed.stats.rounds == 3 and len(plain.metrics["epoch_seconds"]) == 4
    assert slowed.metrics["us_per_step"] >= slow.SLEEP * 1e6 > plain.metrics["us_per_step"]
    assert by[(Combination(model="broken"), "cpu")].error.startswith("RuntimeError: broken model")
    assert by[(Combination(optimizer="explode"), "cpu")].error == "diverged at epoch 1 (loss not finite)"
    assert {r.status for (c, ctx), r in by.items() if ctx == "gpu"} == {"skipped"}


def test_interleaved_ctrl_c_keeps_what_was_measured(tmp_path):
    path = tmp_path / "run.json"
    # each slow epoch sleeps ~4 s (200 steps x 20 ms): warm-ups end near 4.5 s, round 1 near 9 s,
    # so a signal at 12 s lands in round 2, when both cases have at least one timed round
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/harness"), "-p", "tests.plugins.slow", "bench", "--interleave", "--num-examples", "2000",
         "--rounds", "3", "--data", "scratch", "--model", "scratch", "--loss", "scratch", "--optimizer", "scratch",
         "--optimizer", "slow", "--no-references", "--json", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_step_log(tmp_path),
    )
    _wait_for_steps(proc, tmp_path, 450)  # the slow case's warm-up and round 1 are done: in round 2
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    doc = json.loads(path.read_text())
    assert doc["harness"]["interrupted"] is True
    rounds = {b["name"]: len(b["stats"]["data"]) for b in doc["benchmarks"]}
    assert set(rounds) == {"test_epoch[seed-cpu-scratch-scratch-scratch-scratch]",
                           "test_epoch[seed-cpu-scratch-scratch-scratch-slow]"}
    assert all(1 <= n < 3 for n in rounds.values())  # partial, not a full run
