"""Per-role breakdown and scaling sweeps: arithmetic on controlled inputs, and the commands."""
import json
import math

import mxnet as mx
import pytest

from harness.core.loader import load
from harness.core.train import Session, Settings
from harness.errors import HarnessError
from harness.measure import breakdown as bd
from harness.measure import sweep
from harness.output import breakdown as bd_views
from harness.roles import Combination
from harness.tasks.builtin import LinReg

from .conftest import run_cli
from .plugins import phased

PHASED = Combination(data="phased", model="phased", loss="scratch", optimizer="phased")


@pytest.fixture(scope="module")
def registry():
    return load(only=["scratch", "gluon"], extra=["tests.plugins.phased"])


def test_breakdown_charges_each_phase_its_own_time(registry):
    task = LinReg(num_examples=40)
    session = Session(registry, PHASED, task, Settings(batch_size=10), mx.cpu())
    per_step = bd.breakdown(session, rounds=2, warmup=1)
    assert set(per_step) == set(bd.PHASES)
    # every phase got at least the sleep it contains (sleep never returns early)
    assert per_step["data"] >= phased.DATA_S
    assert per_step["forward"] >= phased.FORWARD_S
    assert per_step["update"] >= phased.UPDATE_S
    # and nobody else's: backward sleeps nothing, so it is far below the update's sleep
    assert per_step["backward"] < phased.UPDATE_S


def test_phase_clock_charges_each_lap_to_its_phase_and_averages_per_step(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(bd, "synced_clock", lambda: now[0])
    clock = bd.PhaseClock()  # starts timing here: what precedes the first lap is data loading

    def lap(phase, seconds):
        now[0] += seconds
        clock(phase)

    for step in range(3):  # step k: data 1+k, forward 2, backward 4, update 8 seconds
        for phase, seconds in zip(bd.PHASES, (1 + step, 2, 4, 8)):
            lap(phase, seconds)
    lap("data", 5)  # a fused step laps data, then the whole step as update
    lap("update", 16)
    lap("data", 100)  # an unfinished step: its time is counted, the step is not
    assert clock.steps == 4
    assert clock.totals == {"data": 1 + 2 + 3 + 5 + 100, "forward": 6, "backward": 12, "update": 40}
    assert clock.per_step() == {"data": 111 / 4, "forward": 1.5, "backward": 3.0, "update": 10.0}


def test_breakdown_png(tmp_path):
    rows = [{"label": "a", "data": 1e-4, "forward": 2e-4, "backward": 1e-4, "update": 5e-5}]
    png = bd_views.render_png(rows)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_loglog_recovers_power_law():
    xs = [1e3, 1e4, 1e5]
    slope, r2 = sweep.fit_loglog(xs, [3 * x**1.5 for x in xs])
    assert slope == pytest.approx(1.5)
    assert r2 == pytest.approx(1.0)
    slope, r2 = sweep.fit_loglog(xs, [1.0, 5.0, 2.0])
    assert r2 < 0.9
    assert math.isnan(sweep.fit_loglog([10, 10], [1, 2])[0])


def test_knee_is_where_a_bigger_batch_stops_paying():
    # per-sample µs: halves, halves, then only 5 % better
    assert sweep.knee([10, 100, 1000, 10000], [80, 40, 20, 19]) == 1000
    assert sweep.knee([100, 10], [40, 80]) is None  # order-independent, still falling
    assert sweep.knee([10, 100], [50, 60]) == 10


def test_points_drop_batches_larger_than_n():
    grid = sweep.points([Combination()], [100, 1000], [2], [10, 500])
    assert [(p.num_examples, p.batch_size) for p in grid] == [(100, 10), (1000, 10), (1000, 500)]
    with pytest.raises(HarnessError, match="no valid sweep point"):
        sweep.points([Combination()], [10], [2], [100])


def test_measure_point_arithmetic_on_a_controlled_plugin(registry):
    point = sweep.Point(PHASED, 30, 2, 10)
    row = sweep.measure_point(registry, point, mx.cpu(), rounds=2, warmup=1, lr=0.03, seed=0)
    assert row["error"] == ""
    assert row["step_us"] == pytest.approx(row["epoch_s"] / 3 * 1e6)
    assert row["sample_us"] == pytest.approx(row["epoch_s"] / 30 * 1e6)
    assert row["step_us"] >= (phased.DATA_S + phased.FORWARD_S + phased.UPDATE_S) * 1e6


def test_summarize_fits_each_series():
    rows = [
        {"combo": Combination(), "N": n, "D": 2, "B": b, "epoch_s": n * 1e-6 * (100 / b), "sample_us": 100 / b,
         "error": ""}
        for n in (1000, 10000)
        for b in (10, 100)
    ]
    fits = sweep.summarize(rows)
    vs_n = [f for f in fits if f["fit"] == "epoch time vs N"]
    assert len(vs_n) == 2 and all(f["slope"] == pytest.approx(1.0) for f in vs_n)
    vs_b = [f for f in fits if f["fit"] == "per-sample cost vs B"]
    assert [f["knee_B"] for f in vs_b] == ["> 100", "> 100"]


def test_sweep_command_writes_table_json_and_png(tmp_path):
    out, png = tmp_path / "s.json", tmp_path / "s.png"
    proc = run_cli(
        "sweep", "-p", "tests.plugins.phased", "--data", "scratch", "--model", "scratch", "--loss", "scratch",
        "--optimizer", "scratch", "--num-examples", "100,200", "--batch-size", "10,50", "--rounds", "1",
        "--warmup", "0", "--json", str(out), "--plot", str(png),
    )
    assert proc.returncode == 0, proc.stderr
    assert "epoch time vs N" in proc.stdout and "per-sample cost vs B" in proc.stdout
    doc = json.loads(out.read_text())
    assert len(doc["points"]) == 4
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--num-examples", "10,x"], "--num-examples takes a comma-separated list of positive integers"),
        (["--batch-size", "0"], "--batch-size takes a comma-separated list of positive integers"),
        (["--rounds", "0"], "--rounds must be a positive integer, got 0"),  # the options table's words
        (["--data", "nope"], "unknown data 'nope'"),
    ],
)
def test_sweep_bad_input(args, message):
    proc = run_cli("sweep", *args)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
