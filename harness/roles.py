"""Public for plugin authors: re-exports :mod:`harness.core.roles`."""
from harness.core.roles import *  # noqa: F401,F403
