"""An optimizer whose every step also enqueues SLEEP seconds of work on the
MXNet engine, returning at once: a custom operator whose forward sleeps runs
asynchronously, so only a clock that waits for the engine sees the time."""
import os
import time

import mxnet as mx
from mxnet import nd

from harness.hookspecs import hookimpl
from mxnet_harness_plugins.scratch import sgd

SLEEP = 0.02  # seconds of engine work per step
#: a file that gets one byte per finished step, so a test can time a signal by progress, not by the clock
STEP_LOG = os.environ.get("HARNESS_TEST_STEP_LOG")


class _Sleep(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        time.sleep(SLEEP)
        self.assign(out_data[0], req[0], in_data[0])
        if STEP_LOG:
            with open(STEP_LOG, "a") as fh:
                fh.write(".")

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], out_grad[0])


@mx.operator.register("harness_test_sleep")
class _SleepProp(mx.operator.CustomOpProp):
    def list_arguments(self):
        return ["data"]

    def list_outputs(self):
        return ["output"]

    def infer_shape(self, in_shape):
        return in_shape, [in_shape[0]], []

    def create_operator(self, ctx, shapes, dtypes):
        return _Sleep()


def slow_optimizer(net, lr):
    params = net.params
    # each sleep reads the previous one's output, so the sleeps run one after another
    chain = [nd.zeros((1,), ctx=params[0].context)]

    def step(batch_size):
        sgd(params, lr, batch_size)
        chain[0] = nd.Custom(chain[0], op_type="harness_test_sleep")

    return step


@hookimpl
def register_optimizers(register):
    register("slow", slow_optimizer)
