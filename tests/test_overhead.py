"""The harness's own overhead, counted: per step, its all-scratch epoch may ask Python and MXNet only for what
the host must do beyond the seed's hand-written loop (no timing here: counts are the same on a busy machine)."""
import math

import mxnet as mx
import pytest

from harness.core.train import Session, Settings
from harness.measure.overhead import SeedLoop, count_epoch, extra_per_step, linreg, seed_epoch, summarize
from harness.roles import Combination
from harness.tasks.builtin import LinReg

TASK = LinReg(num_examples=100)
SETTINGS = Settings(batch_size=10)
STEPS = math.ceil(TASK.num_examples / SETTINGS.batch_size)

#: What each harness step must ask beyond the seed's, by design: the host moves X and y to the run's context
#: (harness.core.context.mover: one MXNDArrayGetContext each) and passes the optimizer the real batch length
#: (``X.shape[0]``: one MXNDArrayGetShapeEx).
PLACEMENT_AND_LENGTH_API = {"MXNDArrayGetContext": 2, "MXNDArrayGetShapeEx": 1}
#: The Python calls they take: the mover for X and y (2); for the length the shape property, _int64_enabled
#: and check_call (3); the model adapter Model.__call__ (1); less the current_context() the seed's nd.array
#: makes for its indices (-1).  Before harness.core.context.mover, as_in_context took 5 a batch array, not 1.
PLACEMENT_AND_LENGTH_PYTHON = 2 + 3 + 1 - 1


def _loops(registry, net=linreg):
    ctx = mx.cpu()

    class Seed(SeedLoop):
        def run_epoch(self):
            seed_epoch(self.settings.batch_size, self.features, self.labels, self.w, self.b, self.settings.lr, net=net)

    return Seed(TASK, SETTINGS, ctx), Session(registry, Combination(), TASK, SETTINGS, ctx)


def _extra(seed_loop, harness_loop) -> dict:
    for loop in (seed_loop, harness_loop):
        loop.run_epoch()  # the first epoch may set things up
    return extra_per_step(count_epoch(seed_loop, TASK.seed), count_epoch(harness_loop, TASK.seed), STEPS)


def test_the_harness_step_asks_only_for_placement_and_batch_length(builtin_registry):
    extra = _extra(*_loops(builtin_registry))
    assert extra["operators"] == {}, "the harness runs engine operations the seed's loop does not"
    # the few calls made once per epoch (the loader asks the features' context for its indices) add 0.1–0.3
    # per step over these 10 steps: one more call per step would cross the bounds
    assert extra["api_calls"] < sum(PLACEMENT_AND_LENGTH_API.values()) + 1
    for name, per_step in extra["api_calls_by_name"].items():
        assert math.floor(per_step) <= PLACEMENT_AND_LENGTH_API.get(name, 0), (name, per_step)
    assert extra["python_calls"] < PLACEMENT_AND_LENGTH_PYTHON + 1
    assert extra["seed_operators"] > 0 and extra["seed_api_calls"] > 0 and extra["seed_python_calls"] > 0


def test_counts_are_the_same_every_epoch(builtin_registry):
    seed_loop, _ = _loops(builtin_registry)
    seed_loop.run_epoch()
    first, second = count_epoch(seed_loop, TASK.seed), count_epoch(seed_loop, TASK.seed)
    assert first == second


def test_the_counts_see_one_more_operator_per_step(builtin_registry):
    """What the first test relies on: an extra op and call per step shows up, by name."""
    _, harness_loop = _loops(builtin_registry)
    seed_loop, _ = _loops(builtin_registry, net=lambda X, w, b: linreg(X, w, b) * 1)
    extra = _extra(harness_loop, seed_loop)  # the doctored loop in the harness's place
    assert extra["operators"]["_mul_scalar"] == 1 and extra["operators"]["_backward_mul_scalar"] == 1
    assert extra["api_calls_by_name"]["MXImperativeInvokeEx"] == 1


def _drifting(rounds: int, ratio: float, wobble: float = 0.0):
    """A machine slowing down fivefold over the run; the harness ``ratio`` times the seed in each round."""
    seed = [1 + 4 * i / rounds for i in range(rounds)]
    return seed, [s * ratio * (1 + wobble * (-1) ** i) for i, s in enumerate(seed)]


def test_paired_rounds_see_through_drift_that_blinds_the_unpaired_interval():
    result = summarize(*_drifting(40, 1.01, wobble=0.002))
    assert result["ratio_paired"] == pytest.approx(1.01, rel=3e-3)
    assert 1.007 < result["ratio_paired_ci"]["low"] <= result["ratio_paired_ci"]["high"] < 1.013
    assert result["paired_verdict"] == "within 2%"
    assert result["verdict"].startswith("undecided: the interval straddles")  # the unpaired HL: drift swamps it


@pytest.mark.parametrize("ratio, verdict", [(1.05, "above 2%"), (0.95, "the harness is faster")])
def test_paired_verdict_beyond_the_goal(ratio, verdict):
    assert summarize(*_drifting(40, ratio, wobble=0.002))["paired_verdict"] == verdict


def test_paired_verdict_asks_for_rounds_it_cannot_decide_on():
    assert summarize(*_drifting(5, 1.0))["paired_verdict"].startswith("undecided: 94% is all these rounds give")
