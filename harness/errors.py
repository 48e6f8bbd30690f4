"""Public for plugin authors: re-exports :mod:`harness.core.errors`."""
from harness.core.errors import *  # noqa: F401,F403
