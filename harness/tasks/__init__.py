"""The built-in tasks, their data sets, workloads and reference loops."""
