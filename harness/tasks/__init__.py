"""The built-in tasks, one module each with its workloads and reference loops, their data sets, and the
generic reference machinery.  Importing this package imports no MXNet (the PyTorch reference worker does)."""
from harness.tasks.linreg import NAME as DEFAULT_TASK  # the seed's task: the default of every command

__all__ = ["DEFAULT_TASK"]
