"""Judging numbers: intervals, tests, A/B verdicts, step detection, history."""
