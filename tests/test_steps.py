"""Step detection on synthetic series: known steps are found where they are, noise finds none."""
import numpy as np
import pytest

from harness.analysis import changepoints as steps


def series(levels, cv=0.02, rounds=5, seed=0):
    """Per run: ``rounds`` raw times around its level (relative noise ``cv``), and their median."""
    rng = np.random.RandomState(seed)
    raw = [(level * (1 + cv * rng.standard_normal(rounds))).tolist() for level in levels]
    return [float(np.median(r)) for r in raw], raw


def test_one_step_is_found_at_its_run_with_its_size():
    values, raw = series([1.0] * 20 + [1.3] * 10)
    found = steps.detect(values, raw)
    assert [s.index for s in found.changes] == [20]
    (step,) = found.changes
    assert step.kind == "slower" and step.ratio == pytest.approx(1.3, rel=0.03)
    assert step.p_value < 1e-10
    assert [(s.start, s.stop) for s in found.segments] == [(0, 20), (20, 30)]


def test_up_then_down_gives_two_changes():
    values, raw = series([1.0] * 10 + [1.5] * 8 + [1.0] * 12, seed=3)
    found = steps.detect(values, raw)
    assert [(s.index, s.kind) for s in found.changes] == [(10, "slower"), (18, "faster")]


@pytest.mark.parametrize("cv", [0.03, 0.10])
def test_pure_noise_gives_no_change(cv):
    detected = []
    for seed in range(40):
        values, raw = series([1.0] * 30, cv=cv, seed=seed)
        detected += steps.detect(values, raw).changes
    assert detected == []


def test_a_step_below_the_threshold_is_merged_away():
    values, raw = series([1.0] * 15 + [1.03] * 15, cv=0.002)
    assert steps.detect(values, raw, threshold=0.05).steps == []
    # the same data with a 1 % threshold: the fit finds it and the rounds confirm it
    assert [s.index for s in steps.detect(values, raw, threshold=0.01).changes] == [15]


def test_one_outlier_run_is_not_a_step():
    levels = [1.0] * 30
    levels[12] = 2.0  # one disturbed run
    values, raw = series(levels, seed=5)
    assert steps.detect(values, raw).changes == []


def test_a_fitted_step_without_enough_rounds_is_reported_but_not_confirmed():
    values, raw = series([1.0] * 3 + [1.5] * 3, rounds=1, seed=2)
    found = steps.detect(values, raw)
    assert [s.index for s in found.steps] == [3]
    assert found.changes == []  # 3 rounds a side: p can never go below 0.1
    assert found.steps[0].min_p == pytest.approx(0.1)


def test_short_and_flat_series():
    assert steps.detect([], []).steps == []
    assert steps.detect([1.0, 2.0], [[1.0], [2.0]]).steps == []  # two points: nothing to fit a step to
    flat = steps.detect([1.0] * 10, [[1.0, 1.0]] * 10)
    assert flat.steps == [] and [(s.start, s.stop, s.level) for s in flat.segments] == [(0, 10, 1.0)]
    assert steps.detect([1.0, 1.0, 1.0, 3.0, 3.0, 3.0]).steps[0].p_value is None  # no rounds given


def test_a_slowdown_in_the_newest_run_alone_is_found():
    values, raw = series([1.0] * 12 + [1.4], rounds=10, seed=4)
    assert [(s.index, s.kind) for s in steps.detect(values, raw).changes] == [(12, "slower")]


def test_a_long_series_uses_its_newest_runs_and_keeps_their_indices():
    values, raw = series([1.0] * 250 + [1.3] * 10, rounds=3, seed=6)
    found = steps.detect(values, raw)
    assert found.offset == 60 and [s.index for s in found.changes] == [250]
    assert found.segments[0].start == 60 and found.segments[-1].stop == 260
