"""The results model and its views: numeric records, the terminal table's columns and marks, CSV/JSON from
one model, a saved document read back into the same model."""
import json
import math

import pytest

from harness.analysis import stats as rowstats
from harness.core.errors import HarnessError
from harness.core.roles import Combination
from harness.measure import measuring, planning, workloads
from harness.output import bench_csv, bench_json, bench_table
from harness.output.model import Results

MACHINE = {"harness": {"mxnet": {"version": "1.9.1"}, "env": {"OMP_NUM_THREADS": "1"}, "cpu_model": "cpu",
                       "cpu_count": {"usable": 2}, "python": "3.11"}}
COMMIT = {"id": "abc", "dirty": False}


def fake_row(combo, seconds, ctx="cpu", load=None, reference=None, loss=5e-5, **extra):
    """An ok row with the metrics a real one carries, from known round times."""
    load = load or workloads.workload("seed", rounds=len(seconds), warmup=1)
    case = planning.Case(combo, ctx, load, reference)
    st = measuring.stats_of(seconds)
    metrics = {"epoch_min_s": st.min, "epoch_median_s": st.median, "epoch_iqr_s": st.iqr, "rounds": st.rounds,
               "warmup": 1, "steps_per_epoch": 100, "us_per_step": st.median / 100 * 1e6,
               "samples_per_s": 1000 / st.median, "target_loss": 1e-4, "time_to_target_s": None,
               "epochs_to_target": None, "final_loss": loss, "train_acc": None, "test_acc": None,
               "param_error": 0.01, "peak_rss_mib": 300.0, "epoch_seconds": [seconds[0], *seconds],
               "losses": [0.04, 1.5e-4, *[loss] * (len(seconds) - 1)], **rowstats.summary(seconds), **extra}
    return measuring.Row(case, "ok", stats=st, metrics=metrics)


def sample_rows():
    rows = [fake_row(Combination(), [0.040, 0.041, 0.039, 0.040, 0.042, 0.040, 0.041]),
            fake_row(Combination(model="gluon"), [0.020, 0.021, 0.020, 0.019, 0.020, 0.020, 0.021]),
            fake_row(None, [0.002, 0.002, 0.0021, 0.002, 0.002, 0.0019, 0.002], reference="numpy")]
    load = workloads.workload("seed")
    rows.append(measuring.Row(planning.Case(Combination(model="broken"), "cpu", load), "failed", "RuntimeError: boom"))
    rows.append(measuring.Row(planning.Case(Combination(), "gpu", load), "skipped", "gpu: no GPU usable"))
    return rows


def test_records_are_numeric_and_ratios_are_numbers():
    results = Results.from_rows(sample_rows(), MACHINE, COMMIT)
    recs = results.records()
    assert [r["combination"] for r in recs] == ["numpy (reference)", "scratch/gluon/scratch/scratch",
                                                "scratch/scratch/scratch/scratch", "scratch/broken/scratch/scratch",
                                                "scratch/scratch/scratch/scratch"]
    gluon = recs[1]
    assert gluon["median_s"] == 0.020 and gluon["ratio_to_scratch"] == pytest.approx(0.5)
    assert gluon["ratio_to_numpy"] == pytest.approx(10.0)
    assert gluon["ci_low_s"] <= gluon["median_s"] <= gluon["ci_high_s"] and gluon["ci_level"] >= 0.95
    assert gluon["rounds"] == 7 and gluon["model"] == "gluon" and gluon["status"] == "ok"
    for rec in recs[:3]:
        for key, value in rec.items():
            if key not in ("case", "combination", "data", "model", "loss", "optimizer", "reference", "ctx", "task",
                           "workload", "status", "error", "unstable_why"):
                assert value is None or isinstance(value, (int, float, bool)), (key, value)
    assert recs[3]["status"] == "failed" and recs[3]["median_s"] is None and recs[3]["error"] == "RuntimeError: boom"
    with_env = results.records(environment=True)[0]
    assert with_env["mxnet"] == "1.9.1" and with_env["commit"] == "abc"


def test_document_round_trip_keeps_the_model():
    rows = sample_rows()
    results = Results.from_rows(rows, MACHINE, COMMIT)
    doc = json.loads(bench_json.to_json_text(rows, machine=MACHINE, commit=COMMIT))
    again = Results.from_document(doc)
    strip = [{k: v for k, v in r.items() if k != "task"} for r in results.records()]  # not_run carries no task
    assert strip == [{k: v for k, v in r.items() if k != "task"} for r in again.records()]
    assert bench_csv.write(again).splitlines()[:4] == bench_csv.write(results).splitlines()[:4]


def test_default_table_fits_120_columns_and_explains_its_marks():
    rows = sample_rows() + [fake_row(Combination("gluon", "gluon", "gluon", "gluon"), [0.01, 0.03, 0.01])]
    text = bench_table.render_table(rows)
    assert max(len(line) for line in text.splitlines()) <= 120
    header = text.splitlines()[0].split()
    assert header[:2] == ["combination", "ctx"] and "µs/step" in header and header[-1] == "status"
    assert "vs scratch" in text and "vs numpy" in text and "0.5×" in text
    assert "FAILED [1]" in text and "\n[1] RuntimeError: boom" in text and "SKIPPED [2]" in text
    assert "UNSTABLE" in text and "\nUNSTABLE: std ≥ 10% of mean" in text  # the 3-round row is unstable
    assert "*)" in text and "\n* fewer rounds than a 95% CI" in text


def test_columns_pick_and_wide_shows_all():
    rows = sample_rows()
    picked = bench_table.render_table(rows, columns="combination,median,rounds")
    assert picked.splitlines()[0].split() == ["combination", "epoch", "med", "(ms)", "rounds"]
    wide = bench_table.render_table(rows, wide=True).splitlines()[0]
    for header in ("data", "IQR (ms)", "samples/s", "to target (s)", "final loss", "peak RSS (MiB)", "unstable"):
        assert header in wide
    assert "RuntimeError: boom" in bench_table.render_table(rows, wide=True)
    with pytest.raises(HarnessError, match="unknown column 'nope'; valid: combination, data, model"):
        bench_table.render_table(rows, columns="nope")
    assert "vs torch" in bench_table.render_table(rows, columns="combination,vs_torch")  # blank: torch did not run


@pytest.mark.parametrize("x,text", [(5e-5, "5e-05"), (1.5e-4, "0.00015"), (0.0395, "0.0395"), (39.77, "39.77"),
                                    (12345.6, "12346"), (2.5e7, "2.5e+07"), (0, "0"), (None, "")])
def test_numbers_keep_significant_digits(x, text):
    assert bench_table.sig(x) == text


def test_to_frame_is_numeric_where_pandas_is_installed():
    pd = pytest.importorskip("pandas")
    frame = Results.from_rows(sample_rows(), MACHINE, COMMIT).to_frame()
    assert len(frame) == 5
    numeric = [c for c in frame.columns if c.endswith("_s") or c.startswith("ratio_to_")]
    assert len(numeric) >= 12
    for column in [*numeric, "ci_level", "us_per_step", "samples_per_s", "final_loss", "test_acc", "peak_rss_mib"]:
        assert frame[column].dtype == "float64", column
    for column in ("rounds", "warmup", "steps_per_epoch", "epochs_to_target"):
        assert pd.api.types.is_integer_dtype(frame[column]), column
    assert frame["unstable"].dtype == "boolean" and frame["fused"].dtype == "boolean"
    assert frame.sort_values("ratio_to_scratch")["combination"].iloc[0] == "numpy (reference)"
    assert not math.isnan(frame.loc[1, "ratio_to_scratch"])


def test_bench_figure_is_linear_from_zero_with_whiskers_roles_and_legend_outside():
    from harness.output import figures

    rows = sample_rows()
    fig = figures.render_figure(Results.from_rows(rows))
    matrix, bars, curves = fig.axes
    assert bars.get_xscale() == "linear" and bars.get_xlim()[0] == 0
    from matplotlib.container import BarContainer

    container = next(c for c in bars.containers if isinstance(c, BarContainer))
    assert len(container.patches) == 3 and container.errorbar is not None  # CI whiskers on every bar
    segments = container.errorbar.lines[2][0].get_segments()
    widths = {round(p.get_y() + p.get_height() / 2, 6): p.get_width() for p in container.patches}
    assert len(segments) == 3
    for (low, y), (high, _) in segments:
        assert low < widths[round(y, 6)] < high  # each whisker spans its bar's median
    colours = {tuple(round(v, 3) for v in p.get_facecolor()[:3]) for p in matrix.patches}
    assert len(matrix.patches) == 2 * 4 + 1 and len(colours) == 3  # scratch, gluon, the reference's grey
    fig.canvas.draw()
    legend = curves.get_legend().get_window_extent()
    assert legend.x0 >= curves.get_window_extent().x1  # outside the data
    assert curves.get_xlim()[0] == 0 and curves.get_yscale() == "log"


def test_training_figure_has_integer_epoch_ticks_and_a_time_axis():
    from types import SimpleNamespace

    from harness.output import figures

    epochs = [{"epoch": i, "loss": loss, "seconds": 0.5} for i, loss in enumerate([0.04, 1.5e-4, 5e-5], 1)]
    result = SimpleNamespace(epochs=epochs, combination=Combination(), task=SimpleNamespace(name="linreg"))
    fig = figures.training_figure(result)
    by_epoch, by_time = fig.axes
    fig.canvas.draw()
    ticks = [t for t in by_epoch.get_xticks() if by_epoch.get_xlim()[0] <= t <= by_epoch.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert list(by_time.lines[0].get_xdata()) == [0.5, 1.0, 1.5] and by_time.get_xlim()[0] == 0
