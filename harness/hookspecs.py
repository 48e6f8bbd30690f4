"""Public for plugin authors: re-exports :mod:`harness.core.hookspecs`."""
from harness.core.hookspecs import *  # noqa: F401,F403
