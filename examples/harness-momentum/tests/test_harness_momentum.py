"""harness-momentum against the role contracts, with the harness conformance kit.

Run with the kit's pytest plugin loaded (setup.cfg: ``addopts = -p harness.testing``).
Both optimizers register no ``tasks=``, so they are for every task.  Both are checked
on the seed's linear regression with every built-in partner; momentum also on the
image tasks.  Adam's learning-rate scale (10x the harness lr) is tuned for linear
regression: on softmax regression at the digits lr it overflows the book's softmax,
so it is not checked there (see the README).
"""
import harness_momentum
import numpy as np
import pytest
from mxnet import nd

from harness.core.train import Settings
from harness.roles import Model
from harness.testing import check_plugin

harness_plugin = harness_momentum  # what harness_case checks
harness_options = {"tasks": ["linreg"]}

# The momentum algorithm's default (the book's 7.4) is lr 0.02, momentum 0.5, tuned for linear regression;
# momentum 0.5 doubles the step, so the image tasks' SGD lr 0.5 becomes 0.25.
IMAGE_SETTINGS = Settings(epochs=10, batch_size=32, lr=0.25)


def test_conformance(harness_case):
    """One test per check: each optimizer with every built-in data, model and loss on linreg."""
    harness_case.check()


@pytest.mark.harness_plugin(harness_momentum, names=["momentum"], tasks=["softmax", "mlp"],
                            settings={"softmax": IMAGE_SETTINGS, "mlp": IMAGE_SETTINGS}, partners="each")
def test_momentum_on_the_image_tasks(harness_case):
    """momentum against the softmax and MLP contracts, and trained to their test-accuracy targets."""
    harness_case.check()


def test_registers_only_optimizers():
    report = check_plugin(harness_momentum, roles=["data", "model", "loss"])
    assert not report.ok
    assert "registers no components" in report.failures[0][1]


def test_momentum_is_heavy_ball():
    """Two steps with a constant gradient g: v1 = g, v2 = 0.9 g + g; p2 = p0 - lr (v1 + v2)."""
    w = nd.array([[1.0], [2.0]])
    b = nd.array([0.5])
    for p in (w, b):
        p.attach_grad()
    net = Model((lambda X, w, b: nd.dot(X, w) + b, [w, b]))
    w.grad[:] = 4.0  # summed over a batch of 2: mean gradient 2
    b.grad[:] = 4.0
    step = harness_momentum.momentum(net, lr=0.1, momentum=0.9)
    step(2)
    step(2)
    expected = 0.1 * (2 + (0.9 * 2 + 2))
    np.testing.assert_allclose(w.asnumpy().ravel(), [1 - expected, 2 - expected], rtol=1e-6)
    np.testing.assert_allclose(b.asnumpy(), [0.5 - expected], rtol=1e-6)


def test_names_meet_the_builtin_algorithms():
    """``--optimizer momentum`` alone runs the plugin's momentum (its own algorithm); ``--algorithm momentum``
    alone the built-in scratch one; both compute the book's 7.4 to rounding (velocity of gradients vs of steps)."""
    from harness import api

    plugin = api.run(optimizer="momentum")  # the installed plugin, loaded through its entry point
    builtin = api.run(algorithm="momentum")
    assert plugin.result.combination.label == "scratch/scratch/scratch/momentum:momentum"
    assert builtin.result.combination.label == "scratch/scratch/scratch/scratch:momentum"
    assert plugin.result.settings.lr == builtin.result.settings.lr == 0.02  # the algorithm's book lr
    np.testing.assert_allclose(plugin.result.arrays[0], builtin.result.arrays[0], atol=1e-5)
