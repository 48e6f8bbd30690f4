"""Public for plugin authors: re-exports :mod:`harness.core.task`."""
from harness.core.task import *  # noqa: F401,F403
