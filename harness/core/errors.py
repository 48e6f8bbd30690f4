"""Errors the ``harness`` command reports as one line with exit code 2."""


class HarnessError(Exception):
    """Bad input or configuration: what was wrong and what is valid."""


class PluginError(HarnessError):
    """A plugin could not be loaded or breaks the registration rules."""


class Diverged(Exception):
    """Training loss became NaN or infinite; carries the partial result."""

    def __init__(self, epoch: int, result):
        super().__init__(f"diverged at epoch {epoch}")
        self.epoch = epoch
        self.result = result
